"""The app's request limits, checked before any sampling starts so one user cannot exhaust the machine."""
from dataclasses import dataclass

from sampler.config import SamplerConfig


@dataclass(frozen=True)
class Limits:
    """Upper bounds on one Run request (the sampler's own checks come on top of these)."""

    max_particles: int = 64
    max_gen_length: int = 512  # and prompt + gen length ≤ the model's maximum length
    max_prompt_chars: int = 2000
    max_particle_steps: int = 8192  # N × steps: the sequence forwards of the SR-SMC run

    def check(self, cfg: SamplerConfig) -> None:
        """Raise ValueError naming the first setting over its limit."""
        N, prompt = cfg.n_particles, cfg.prompts[0]
        if N > self.max_particles:
            raise ValueError(f"particles N = {N}: this app allows at most {self.max_particles}")
        if cfg.gen_length > self.max_gen_length:
            raise ValueError(f"gen length = {cfg.gen_length}: this app allows at most {self.max_gen_length}")
        if len(prompt) > self.max_prompt_chars:
            raise ValueError(f"prompt of {len(prompt)} characters: this app allows at most {self.max_prompt_chars}")
        steps = cfg.gen_length if cfg.policy == "threshold" else cfg.steps  # threshold may take one per token
        if N * steps > self.max_particle_steps:
            raise ValueError(f"particles × steps = {N} × {steps} = {N * steps}: this app allows at most "
                             f"{self.max_particle_steps}; lower N or the number of steps")
