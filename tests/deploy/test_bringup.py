"""Certificates, node keys and the bring-up plan (no processes)."""

import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from fedrec.config import APP_PRIVACY_DEFAULTS, build_config
from fedrec.deploy.bringup import commands_text, init_deployment
from fedrec.deploy.certs import make_node_keys, make_server_certificates
from fedrec.errors import ConfigError
from fedrec.privacy.policy import NodePolicy


def test_the_superlink_certificate_names_its_hosts_and_is_signed_by_the_ca(tmp_path):
    paths = make_server_certificates(tmp_path, ["superlink.example.org", "10.0.0.5"])
    ca = x509.load_pem_x509_certificate(paths.ca.read_bytes())
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    cert.verify_directly_issued_by(ca)  # raises if the signature or issuer is wrong
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["superlink.example.org"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for key in (paths.key, tmp_path / "ca.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_node_keys_are_what_flower_reads(tmp_path):
    keys = make_node_keys(tmp_path, "node-0")
    private = load_ssh_private_key(keys.private.read_bytes(), password=None)
    public = load_ssh_public_key(keys.public.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(private.curve, ec.SECP384R1)  # a NIST curve, as node auth requires
    assert private.public_key().public_numbers() == public.public_numbers()
    assert keys.public.read_text().startswith("ecdsa-sha2-nistp384 ")
    assert stat.S_IMODE(keys.private.stat().st_mode) == 0o600


def _cfg(**values):
    return build_config(APP_PRIVACY_DEFAULTS | values)


def test_init_writes_keys_and_every_command_secure_by_default(tmp_path):
    out = tmp_path / "deploy"
    plan = init_deployment(out, _cfg(), 2, ["superlink.example.org"], 9093)
    assert "--enable-supernode-auth" in plan.superlink and "--insecure" not in plan.superlink
    assert [argv[3] for argv in plan.register] == [
        str(out / "keys" / f"node-{i}.pub") for i in (0, 1)
    ]
    for i, argv in enumerate(plan.nodes):
        assert argv[argv.index("--superlink") + 1] == "superlink.example.org:9093"
        assert argv[argv.index("--auth-supernode-private-key") + 1] == f"node-{i}.key"
        config = argv[argv.index("--node-config") + 1]
        assert f'data-dir="/srv/fedrec/data/node-{i}"' in config
        assert 'privacy-mode="local"' in config and "target-epsilon=8.0" in config
    home = (out / "flwr-home" / "config.toml").read_text()
    assert 'address = "superlink.example.org:9093"' in home and "root-certificates" in home
    text = commands_text(out, plan)
    assert "INSECURE" not in text and text.count("flower-supernode") == 2


def test_insecure_needs_asking_and_says_so(tmp_path):
    plan = init_deployment(tmp_path / "d", _cfg(), 1, ["127.0.0.1"], 9093, insecure=True)
    assert "--insecure" in plan.superlink and "--insecure" in plan.nodes[0]
    assert not plan.register and not (tmp_path / "d" / "keys").exists()
    assert "INSECURE" in commands_text(tmp_path / "d", plan, insecure=True)
    assert "insecure = true" in (tmp_path / "d" / "flwr-home" / "config.toml").read_text()


def test_init_refuses_a_used_directory_and_missing_hosts(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        init_deployment(tmp_path / "used", _cfg(), 1, ["h"], 9093)
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="--host"):
        init_deployment(tmp_path / "new", _cfg(), 1, [], 9093)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"target-epsilon": 0.0, "noise-multiplier": 1.3, "privacy-unit": "user"},
        {"delta": 1e-7, "budget-epsilon": 4.0, "secure-mode": True},
    ],
)
def test_a_policy_survives_the_trip_through_a_node_config(values):
    policy = NodePolicy.from_config(_cfg(**values))
    assert NodePolicy.from_node_config(policy.node_config()) == policy


def test_a_node_without_privacy_says_only_that():
    policy = NodePolicy.from_config(_cfg(**{"privacy-mode": "off"}))
    assert policy.node_config() == {"privacy-mode": "off"}
    assert NodePolicy.from_node_config(policy.node_config()).mode == "off"
