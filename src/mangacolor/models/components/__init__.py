"""Plain torch networks: they know nothing of Lightning."""

from mangacolor.models.components.patchgan import PatchDiscriminator
from mangacolor.models.components.unet import OUTPUT_CHANNELS, UNetGenerator

__all__ = ["OUTPUT_CHANNELS", "PatchDiscriminator", "UNetGenerator"]
