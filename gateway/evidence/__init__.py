"""Black-box evidence: the raw samples around every alert, sealed with a SHA-256 (README "Evidence")."""

from gateway.evidence.csvform import to_csv
from gateway.evidence.rebuild import REBUILT, EvidenceRebuild, Fired
from gateway.evidence.recorder import EvidenceRecorder
from gateway.evidence.store import EvidenceError, EvidenceStore, Sealed, SealedError
from gateway.evidence.window import Window, canonical, checksum, document

__all__ = [
    "REBUILT",
    "EvidenceError",
    "EvidenceRebuild",
    "EvidenceRecorder",
    "EvidenceStore",
    "Fired",
    "Sealed",
    "SealedError",
    "Window",
    "canonical",
    "checksum",
    "document",
    "to_csv",
]
