"""A node's identity on disk: node.json (who it is, where HQ is) and node.key.

The private key file is created readable by its owner only (0600) before any
byte is written to it, so it is never briefly world-readable.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.errors import NotEnrolled
from protocol.errors import KeyFileExposed
from protocol.signing import load_private_key_pem, private_key_pem
from shared_tables.private_files import check_private

CONFIG_FILE = "node.json"
KEY_FILE = "node.key"
STORE_FILE = "node.sqlite"


@dataclass(frozen=True)
class NodeConfig:
    branch: str
    hq_url: str
    hq_public_key_hex: str
    feed_origin: str
    # What one card may spend at this branch per day while HQ is unreachable
    # (DESIGN 6): it bounds the overdraft a partition can cause.
    offline_limit_fen: int = 50_000

    @property
    def hq_public_key(self) -> bytes:
        return bytes.fromhex(self.hq_public_key_hex)

    @property
    def warehouse(self) -> str:
        # One warehouse per branch for now; more per branch come with inventory.
        return f"{self.branch}-MAIN"


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
        handle.flush()
        os.fsync(handle.fileno())


def read_private_key(path: Path) -> Ed25519PrivateKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileExposed(f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}`")
    return load_private_key_pem(path.read_bytes())


def save_config(data_dir: Path, config: NodeConfig) -> None:
    # Owner-only like everything in the data folder, though it holds nothing secret.
    tmp = data_dir / (CONFIG_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(asdict(config), indent=2) + "\n")
    os.replace(tmp, data_dir / CONFIG_FILE)


def load_config(data_dir: Path) -> NodeConfig:
    path = data_dir / CONFIG_FILE
    if not path.exists():
        raise NotEnrolled(f"{data_dir} holds no enrolled node; run `branchline node init` first")
    check_private(data_dir)
    return NodeConfig(**json.loads(path.read_text()))
