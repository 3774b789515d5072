"""Loops: put the cursor in a function and ask for a prophecy to see every iteration."""


# prophecy: running_total([3, 1, 4, 1, 5])
def running_total(values):
    totals = []
    total = 0
    for value in values:
        total += value
        totals.append(total)
    return totals


# prophecy: collatz_steps(6)
# prophecy: collatz_steps(27)
def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n //= 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def first_repeat(items):
    """The first item seen twice, or None.

    >>> first_repeat(["a", "b", "c", "b", "a"])
    'b'
    >>> first_repeat([1, 2, 3]) is None
    True
    """
    seen = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None
