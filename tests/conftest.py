import os

# Tests run on the CPU; the sweep tests ask for several host devices themselves.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Many tests compile the same programs (a module's fixtures, the runs that a
# kill test starts in subprocesses, which inherit this variable): JAX's
# persistent compilation cache lets the later ones load what the first compiled.
# A cached executable is the compiled program itself, so results do not change.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(os.path.dirname(os.path.dirname(__file__)), ".pytest_cache", "jax"),
)

# The package sets its XLA:CPU workaround flags on import; do it here too, in case
# a test module starts JAX's backend before importing the package.
from jaxmarl_core import _xla_flags  # noqa: E402

_xla_flags.apply()
