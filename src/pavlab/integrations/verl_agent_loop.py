"""PAV token rewards inside verl 0.9's trainer: an agent-loop manager that rewrites `rm_scores` after each rollout.

Why here: verl 0.9's `main_ppo` computes rewards in its reward loop while the rollout runs, one scalar
per response placed on the last valid token (`rm_scores`); the reward managers it registers return
that scalar, so no reward manager can place a reward per step. The agent-loop manager is the class
verl lets a config swap (`actor_rollout_ref.rollout.agent.agent_loop_manager_class`), and its
`generate_sequences` returns the batch the trainer reads `rm_scores` from. `PAVAgentLoopManager`
runs verl's own rollout, then replaces `rm_scores` with `pavlab.integrations.verl.pav_reward_tensor`
(placed as returns-to-go: with GAE at gamma = lam = 1 each token's return is its step's effective
reward). The reward loop's scalar stays in the batch's extra info (`acc`: the outcome, from
`outcome_score`), and validation rollouts keep it as their score. The PAV settings are the config's
`pav` section (integrations/verl/verl_pav.yaml); the verifier loads on the first training rollout, in the
process that drives verl's trainer.

Importing this module needs verl (`make test-verl` checks it against verl 0.9.1).
"""

from __future__ import annotations

import inspect
from typing import Any

from verl.experimental.agent_loop import AgentLoopManager
from verl.utils.tokenizer import hf_tokenizer

from pavlab.errors import PavlabError
from pavlab.integrations.verl import PAVSettings


class PAVAgentLoopManager(AgentLoopManager):
    """verl's agent-loop manager, with PAV token rewards as `rm_scores` of every training rollout."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.pav = PAVSettings(config.get("pav") or {})
        model = config.actor_rollout_ref.model
        self.pav_tokenizer = hf_tokenizer(model.get("tokenizer_path") or model.path, trust_remote_code=True)

    def generate_sequences(self, prompts: Any) -> Any:
        output = super().generate_sequences(prompts)
        if inspect.isawaitable(output):  # called from a running event loop: the caller awaits
            return self._rewarded_later(prompts, output)
        return self.with_pav_rewards(prompts, output)

    async def _rewarded_later(self, prompts: Any, pending: Any) -> Any:
        return self.with_pav_rewards(prompts, await pending)

    def with_pav_rewards(self, prompts: Any, output: Any) -> Any:
        """`output` with `rm_scores` = the PAV rewards (training rollouts; validation keeps the outcome)."""
        if prompts.meta_info.get("validate"):
            return output
        if len(output) != len(prompts):
            raise PavlabError(f"verl returned {len(output)} rollouts for {len(prompts)} prompts; the PAV reward "
                              "needs one per prompt row (repeat the batch before the rollout, as main_ppo does)")
        output.batch["rm_scores"] = self.pav.rewards(self.pav_tokenizer, output.batch, prompts.non_tensor_batch).to(
            output.batch["responses"].device)
        return output
