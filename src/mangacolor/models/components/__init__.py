"""Plain torch networks: they know nothing of Lightning."""

from mangacolor.models.components.patchgan import PatchDiscriminator
from mangacolor.models.components.unet import UNetGenerator

__all__ = ["PatchDiscriminator", "UNetGenerator"]
