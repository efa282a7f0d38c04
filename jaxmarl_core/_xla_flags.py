"""XLA:CPU flags set before JAX starts its backend.

jaxlib 0.10.2's CPU runtime can deadlock on vmapped programs with several
large matrix products (seen here: QMIX and QTRAN on LBF over 3+ seeds, every
XLA thread waiting). Turning off the concurrency-optimised scheduler and
multi-threaded Eigen avoids it, at no measurable cost on the small networks of
this library. The flags are appended to ``XLA_FLAGS`` when this package is
imported before JAX's backend starts; set ``JAXMARL_CORE_KEEP_XLA_FLAGS=1`` to
leave ``XLA_FLAGS`` untouched.
"""

import os

CPU_FLAGS = (
    "--xla_cpu_enable_concurrency_optimized_scheduler=false",
    "--xla_cpu_multi_thread_eigen=false",
)


def apply() -> None:
    if os.environ.get("JAXMARL_CORE_KEEP_XLA_FLAGS"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    missing = [f for f in CPU_FLAGS if f.split("=")[0] not in flags]
    if missing:
        os.environ["XLA_FLAGS"] = " ".join([flags, *missing]).strip()
