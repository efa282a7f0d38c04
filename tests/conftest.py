import os

# Tests run on the CPU; the sweep tests ask for several host devices themselves.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The package sets its XLA:CPU workaround flags on import; do it here too, in case
# a test module starts JAX's backend before importing the package.
from jaxmarl_core import _xla_flags  # noqa: E402

_xla_flags.apply()
