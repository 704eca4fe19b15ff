"""The input-side check every image model runs: its layers must fit the ``image_size``."""

from __future__ import annotations

from satsim.errors import SatsimError


def check_image_size(model: str, image_size: int, *, minimum: int = 1, multiple: int = 1,
                     why: str = "") -> None:
    """:class:`SatsimError` unless ``image_size`` is at least ``minimum`` and a multiple of
    ``multiple``; ``why`` (the layers that need it) ends the message."""
    if image_size < minimum or image_size % multiple:
        need = f"at least {minimum}" if minimum > 1 else "positive"
        if multiple > 1:
            need = (f"{need} and a" if minimum > 1 else "a positive") + f" multiple of {multiple}"
        raise SatsimError(f"{model}: image_size {image_size} does not fit, it must be {need}"
                          + (f" ({why})" if why else ""))
