"""The generated demo catalogue: products drawn with Pillow, so `make demo` works offline."""
