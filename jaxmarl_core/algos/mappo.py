"""Multi-agent PPO with a centralised critic (Albrecht, Christianos, Schäfer,
"Multi-Agent Reinforcement Learning", ch. 9.4.2; Yu et al. 2022): IPPO whose
critic V(h_i, z; θ_i) also sees the global state z during training.
"""

from __future__ import annotations

from jumanji.env import Environment

from jaxmarl_core.algos import ippo
from jaxmarl_core.config import Config, Param
from jaxmarl_core.types import Algorithm

# EPyMARL's MAPPO: as IPPO (lr 3e-4, 4 epochs, clip 0.2, entropy 0.001).
PARAMS: dict[str, Param] = dict(ippo.PARAMS)

validate = ippo.validate

# The policy loss is IPPO's; only the advantage's critic differs:
# Adv_i^t from V(h_i^t, z^t; θ_i) instead of V(h_i^t; θ_i).
loss = ippo.loss


def make(env: Environment, config: Config) -> Algorithm:
    return ippo.make(env, config, centralised=True)
