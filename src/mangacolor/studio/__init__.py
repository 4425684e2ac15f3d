"""mangacolor-studio's library: a local web page to place colour hints and see the page
coloured live."""
