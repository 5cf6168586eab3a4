"""fedrec: federated, privacy-preserving recommendation with LoRA on BERT-family text models."""

__version__ = "0.1.0"
