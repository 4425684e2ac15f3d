"""The pix2pix networks, the GAN loss, and the LightningModule that trains them."""
