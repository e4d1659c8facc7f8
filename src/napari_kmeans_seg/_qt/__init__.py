"""The GUI: the dock widgets and their parts (Qt through magicgui and qtpy)."""
