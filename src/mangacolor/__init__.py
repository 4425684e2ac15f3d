"""mangacolor: teach a pix2pix GAN to colour black-and-white comics, and colour pages with it."""

__version__ = "0.1.0"
