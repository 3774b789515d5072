"""Dev set: list manipulation. Each function is traced once, with the call in its `# call:` line.

Hand-written for the demo model's dev set (issue 24); kept out of every training corpus.
"""


# call: evens([5, 8, 2, 7, 10])
def evens(numbers):
    return [n for n in numbers if n % 2 == 0]


# call: second_largest([4, 9, 1, 7])
def second_largest(values):
    ordered = sorted(values)
    return ordered[-2]


# call: rotate_left([1, 2, 3, 4, 5], 2)
def rotate_left(items, k):
    k = k % len(items)
    return items[k:] + items[:k]


# call: dedupe([3, 1, 3, 2, 1])
def dedupe(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# call: chunk([1, 2, 3, 4, 5, 6, 7], 3)
def chunk(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


# call: flatten([[1, 2], [3], [4, 5]])
def flatten(nested):
    flat = []
    for group in nested:
        flat.extend(group)
    return flat


# call: running_max([3, 1, 4, 1, 5])
def running_max(values):
    out = []
    best = None
    for v in values:
        if best is None or v > best:
            best = v
        out.append(best)
    return out


# call: pairwise_diff([10, 13, 19, 20])
def pairwise_diff(xs):
    return [b - a for a, b in zip(xs, xs[1:])]


# call: clamp_all([-5, 3, 12, 7], 0, 10)
def clamp_all(values, low, high):
    return [min(max(v, low), high) for v in values]


# call: index_of([4, 8, 15, 16], 15)
def index_of(items, target):
    for i, item in enumerate(items):
        if item == target:
            return i
    return -1


# call: remove_all([1, 2, 1, 3, 1], 1)
def remove_all(items, value):
    while value in items:
        items.remove(value)
    return items


# call: interleave([1, 2, 3], ["a", "b", "c"])
def interleave(left, right):
    merged = []
    for a, b in zip(left, right):
        merged.append(a)
        merged.append(b)
    return merged


# call: middle([7, 2, 9, 4, 6])
def middle(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


# call: last_n(["a", "b", "c", "d", "e"], 2)
def last_n(items, n):
    if n <= 0:
        return []
    return items[-n:]


# call: cumulative([2, 4, 6, 8])
def cumulative(numbers):
    sums = []
    total = 0
    for n in numbers:
        total += n
        sums.append(total)
    return sums


# call: lengths(["pear", "fig", "banana"])
def lengths(words):
    return [len(w) for w in words]


# call: insert_sorted([1, 4, 6, 9], 5)
def insert_sorted(items, value):
    for i, item in enumerate(items):
        if value < item:
            items.insert(i, value)
            return items
    items.append(value)
    return items


# call: count_positive([-2, 0, 3, -1, 8])
def count_positive(nums):
    return sum(1 for n in nums if n > 0)


# call: split_even_odd([1, 2, 3, 4, 5])
def split_even_odd(numbers):
    even, odd = [], []
    for n in numbers:
        (even if n % 2 == 0 else odd).append(n)
    return even, odd


# call: top_three([5, 1, 9, 3, 7, 2])
def top_three(scores):
    return sorted(scores, reverse=True)[:3]


# call: pop_until([1, 2, 3, 4, 5], 3)
def pop_until(stack, stop):
    popped = []
    while stack and stack[-1] != stop:
        popped.append(stack.pop())
    return popped


# call: every_other(["a", "b", "c", "d", "e"])
def every_other(items):
    return items[::2]
