"""pytest runs everything in smoke mode unless VAE_SMOKE is already set; notebook kernels
started by nbval inherit the variable."""

import os

os.environ.setdefault("VAE_SMOKE", "1")
