import os

# Tests run on the CPU, on as many host devices as the sweep tests ask for.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
