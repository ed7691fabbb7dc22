"""What the run configurations share: JSON and YAML round trips, unknown keys refused, a hash.

:class:`~emocirc.finetune_config.FinetuneConfig` and
:class:`~emocirc.pretrain_config.PretrainConfig` are dataclasses that inherit
:class:`Settings`.  Each names its kind (for messages) and which fields do
not change what is learned (left out of the hash).  The hash is BLAKE2b
(8 bytes) of the sorted JSON of the remaining fields, so it is stable across
processes and Python versions and names a run's directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from emocirc.errors import EmocircError


def digest(text: str) -> str:
    """16 hex characters of BLAKE2b: the configurations' (and runs') hash."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Settings:
    """Mixin for a configuration dataclass.

    Subclasses set ``KIND`` (``"fine-tuning"``), ``NOT_HASHED`` (fields that
    do not change what is learned) and ``HASHED_UNLESS_DEFAULT`` (fields
    hashed only when they differ from the given value, so that adding one
    keeps the hashes of existing runs), and may override :meth:`normalise`.
    """

    KIND = "settings"
    NOT_HASHED: tuple[str, ...] = ()
    HASHED_UNLESS_DEFAULT: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Rebuild a configuration written by :meth:`to_dict` (unknown keys are an error)."""
        names = set(cls.field_names())
        unknown = sorted(set(data) - names)
        if unknown:
            raise EmocircError(f"unknown {cls.KIND} settings {unknown}: expected some of {sorted(names)}")
        return cls(**data)

    @classmethod
    def normalise(cls, data: dict[str, Any], source: str) -> dict[str, Any]:
        """Turn values read from YAML into the fields' types (``source`` names the file in errors)."""
        return data

    @classmethod
    def read_settings(cls, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The field values of a YAML configuration, checked against the fields.

        A file that cannot be read, YAML syntax errors, a file that is not a
        mapping and unknown keys are one-line :class:`EmocircError` naming
        the file.
        """
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as err:
            raise EmocircError(f"{path}: cannot read the {cls.KIND} configuration ({err.strerror})") from None
        except yaml.YAMLError as err:
            problem = " ".join(str(getattr(err, "problem", None) or err).split())
            raise EmocircError(
                f"{path}: not valid YAML ({problem}); expected a mapping of settings"
            ) from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise EmocircError(
                f"{path}: a YAML {type(data).__name__}; expected a mapping of {cls.KIND} settings"
            )
        names = cls.field_names()
        for key in data:
            if key not in names:
                raise EmocircError(
                    f"{path}: unknown {cls.KIND} setting {key!r}; expected some of {', '.join(names)}"
                )
        return cls.normalise(data, str(path))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]):
        """Read a YAML mapping of field values (missing fields keep their defaults)."""
        return cls(**cls.read_settings(path))

    def to_yaml(self, path: str | os.PathLike[str]) -> None:
        """Write every field as YAML (atomically), readable by :meth:`from_yaml` and ``--config``."""
        import yaml

        from emocirc._io import write_text

        write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    def hash(self) -> str:
        """Hash of every setting that changes what is learned (16 hex characters)."""
        skip = self.HASHED_UNLESS_DEFAULT
        data = {
            k: v
            for k, v in self.to_dict().items()
            if k not in self.NOT_HASHED and not (k in skip and v == skip[k])
        }
        return digest(json.dumps(data, sort_keys=True, default=str))
