"""localca: a Dogtag-compatible CMC CA over HTTPS, for development, the demo and CI."""
