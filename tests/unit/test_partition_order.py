"""PartitionOrder: records are handled from the committed offset on, one after another; a
hole is read again and no acknowledgement inside it goes before the hole is closed."""

from __future__ import annotations

from typing import Any

from streams.processing.partition_order import PartitionOrder

T = "touchline.interactions.v1"


class Consumer:
    """The committed offsets and the seeks a PartitionOrder asks for."""

    def __init__(self, committed: dict[tuple[str, int], int]) -> None:
        self.committed = committed
        self.reads = 0
        self.seeks: list[tuple[str, int, int]] = []

    async def read_committed(self) -> dict[tuple[str, int], int]:
        self.reads += 1
        return dict(self.committed)

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        self.seeks.append((topic, partition, offset))


def order(committed: dict[tuple[str, int], int]) -> tuple[PartitionOrder, Consumer]:
    consumer = Consumer(committed)
    return PartitionOrder(consumer.read_committed, consumer.seek), consumer


async def admitted(partition_order: PartitionOrder, offsets: list[int], p: int = 0) -> list[int]:
    return [o for o in offsets if await partition_order.admit(T, p, o)]


async def test_records_from_the_committed_offset_are_handled_in_order() -> None:
    partition_order, consumer = order({(T, 0): 5})
    assert await admitted(partition_order, [5, 6, 7, 8]) == [5, 6, 7, 8]
    assert consumer.seeks == []
    assert consumer.reads == 1  # once per assignment, not per record


async def test_a_record_read_twice_is_handled_once() -> None:
    partition_order, _ = order({(T, 0): 0})
    assert await admitted(partition_order, [0, 1, 2, 1, 2, 3]) == [0, 1, 2, 3]


async def test_records_past_the_committed_offset_mean_a_hole_read_again() -> None:
    """Committed 22, first record handed over 48: seek back to 22, pass over what is
    ahead until 22 comes, then everything in order."""
    partition_order, consumer = order({(T, 1): 22})
    assert await admitted(partition_order, [48, 49, 50], p=1) == []
    assert consumer.seeks == [(T, 1, 22)] * 3
    assert await admitted(partition_order, [*range(22, 52)], p=1) == [*range(22, 52)]
    assert partition_order.holes_found == 1


async def test_acknowledgements_inside_a_hole_are_held_until_it_is_read() -> None:
    partition_order, _ = order({(T, 0): 10})
    await admitted(partition_order, [14, 15])  # 10..13 were skipped; 15 is the highest seen
    acked: list[int] = []
    released: list[Any] = []
    for offset in range(10, 17):
        assert await partition_order.admit(T, 0, offset)
        ack = partition_order.acknowledgement(T, 0, offset, lambda o=offset: acked.append(o))
        released.append(ack)
    # Nothing below 14 goes alone: a commit could otherwise land inside the hole.
    assert released[:4] == [None] * 4
    for ack in released:
        if ack is not None:
            ack()
    assert acked == [*range(10, 17)]


async def test_a_partition_with_nothing_committed_starts_where_it_is_read() -> None:
    partition_order, consumer = order({})
    assert await admitted(partition_order, [3, 4]) == [3, 4]
    assert consumer.seeks == []


async def test_a_reassignment_reads_the_committed_offsets_again() -> None:
    partition_order, consumer = order({(T, 0): 0})
    await admitted(partition_order, [0, 1])
    consumer.committed = {(T, 0): 2}
    partition_order.reset()
    assert await admitted(partition_order, [2]) == [2]
    assert consumer.reads == 2
