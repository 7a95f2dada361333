"""Multi-process runs under ``torchrun``: one process per GPU (NCCL) or per CPU worker (gloo).

Samples are sharded by index across processes and every finished batch is gathered to rank 0,
which alone scores and writes the run directory. Gathering exact records (rather than using a
padded ``DistributedSampler``) means no sample is duplicated or dropped, so a multi-process run
writes the same samples and scores as a single process. A single process never touches
``torch.distributed`` and needs no MASTER_ADDR/MASTER_PORT.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order (all processes receive the list)."""
        if self.world_size == 1:
            return [value]
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every process."""
        if self.world_size == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def device(self, requested: str) -> str:
        """Each process takes its own GPU; ``auto`` and ``cuda`` mean cuda:LOCAL_RANK."""
        if self.world_size > 1 and requested in ("auto", "cuda") and self.backend == "nccl":
            return f"cuda:{self.local_rank}"
        return requested

    def close(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def init_from_env() -> Dist:
    """Join the process group that ``torchrun`` describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Dist()
    import torch
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return Dist(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)
