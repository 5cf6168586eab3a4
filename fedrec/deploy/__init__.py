"""Deployment on Flower's Deployment Engine: certificates and node keys (:mod:`.certs`),
Flower's commands (:mod:`.commands`), their processes (:mod:`.processes`), the plan for
several machines (:mod:`.bringup`) and all of it on one (:mod:`.demo`)."""
