"""Short everyday functions (string, list and dict code, 2-10 lines) for latency benchmarks.

Written for these benchmarks, not taken from the demo model's training templates. Each entry
is (source, two literal calls): 50 functions, 100 predictions.
"""

from __future__ import annotations

FUNCTIONS: list[tuple[str, tuple[str, str]]] = [
    (
        "def initials(name):\n    parts = name.split()\n    return ''.join(p[0].upper() for p in parts)\n",
        ("initials('ada lovelace')", "initials('grace brewster hopper')"),
    ),
    (
        "def count_vowels(text):\n    count = 0\n    for ch in text.lower():\n        if ch in 'aeiou':\n            count += 1\n    return count\n",
        ("count_vowels('Banana')", "count_vowels('sky')"),
    ),
    (
        "def clamp(x, low, high):\n    if x < low:\n        return low\n    if x > high:\n        return high\n    return x\n",
        ("clamp(15, 0, 10)", "clamp(-3, 0, 10)"),
    ),
    (
        "def word_lengths(sentence):\n    lengths = {}\n    for word in sentence.split():\n        lengths[word] = len(word)\n    return lengths\n",
        ("word_lengths('to be or not')", "word_lengths('hello world')"),
    ),
    (
        "def dedupe(items):\n    seen = set()\n    out = []\n    for item in items:\n        if item not in seen:\n            seen.add(item)\n            out.append(item)\n    return out\n",
        ("dedupe([3, 1, 3, 2, 1])", "dedupe(['a', 'b', 'a'])"),
    ),
    (
        "def reverse_words(text):\n    words = text.split(' ')\n    words.reverse()\n    return ' '.join(words)\n",
        ("reverse_words('one two three')", "reverse_words('ab cd')"),
    ),
    (
        "def is_palindrome(word):\n    cleaned = word.lower().replace(' ', '')\n    return cleaned == cleaned[::-1]\n",
        ("is_palindrome('Never odd or even')", "is_palindrome('python')"),
    ),
    (
        "def pairs_sum(nums, target):\n    found = []\n    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n            if nums[i] + nums[j] == target:\n                found.append((nums[i], nums[j]))\n    return found\n",
        ("pairs_sum([1, 2, 3, 4], 5)", "pairs_sum([2, 2, 0], 4)"),
    ),
    (
        "def max_gap(values):\n    ordered = sorted(values)\n    gap = 0\n    for a, b in zip(ordered, ordered[1:]):\n        gap = max(gap, b - a)\n    return gap\n",
        ("max_gap([7, 1, 4, 12])", "max_gap([5, 5])"),
    ),
    (
        "def title_case(text):\n    return ' '.join(w.capitalize() for w in text.split())\n",
        ("title_case('the old man')", "title_case('x y')"),
    ),
    (
        "def invert(mapping):\n    result = {}\n    for key, value in mapping.items():\n        result[value] = key\n    return result\n",
        ("invert({'a': 1, 'b': 2})", "invert({1: 'x'})"),
    ),
    (
        "def chunk(items, size):\n    out = []\n    for start in range(0, len(items), size):\n        out.append(items[start:start + size])\n    return out\n",
        ("chunk([1, 2, 3, 4, 5], 2)", "chunk('abcdef', 3)"),
    ),
    (
        "def digits_sum(n):\n    total = 0\n    while n > 0:\n        total += n % 10\n        n //= 10\n    return total\n",
        ("digits_sum(4096)", "digits_sum(7)"),
    ),
    (
        "def first_repeat(text):\n    seen = set()\n    for ch in text:\n        if ch in seen:\n            return ch\n        seen.add(ch)\n    return None\n",
        ("first_repeat('abcdba')", "first_repeat('xyz')"),
    ),
    (
        "def average(values):\n    if not values:\n        return 0.0\n    return sum(values) / len(values)\n",
        ("average([2, 4, 9])", "average([])"),
    ),
    (
        "def flatten(nested):\n    flat = []\n    for inner in nested:\n        flat.extend(inner)\n    return flat\n",
        ("flatten([[1, 2], [3], []])", "flatten([['a'], ['b', 'c']])"),
    ),
    (
        "def letter_grade(score):\n    if score >= 90:\n        return 'A'\n    elif score >= 80:\n        return 'B'\n    elif score >= 70:\n        return 'C'\n    return 'F'\n",
        ("letter_grade(85)", "letter_grade(42)"),
    ),
    (
        "def squares_of_evens(nums):\n    return [n * n for n in nums if n % 2 == 0]\n",
        ("squares_of_evens([1, 2, 3, 4])", "squares_of_evens([5, 6])"),
    ),
    (
        "def merge_counts(a, b):\n    merged = dict(a)\n    for key, value in b.items():\n        merged[key] = merged.get(key, 0) + value\n    return merged\n",
        ("merge_counts({'x': 1}, {'x': 2, 'y': 3})", "merge_counts({}, {'k': 1})"),
    ),
    (
        "def strip_comments(lines):\n    kept = []\n    for line in lines:\n        code = line.split('#')[0].rstrip()\n        if code:\n            kept.append(code)\n    return kept\n",
        ("strip_comments(['a = 1  # one', '# only', 'b = 2'])", "strip_comments(['x'])"),
    ),
    (
        "def running_max(values):\n    best = None\n    out = []\n    for v in values:\n        if best is None or v > best:\n            best = v\n        out.append(best)\n    return out\n",
        ("running_max([3, 1, 4, 1, 5])", "running_max([2, 2])"),
    ),
    (
        "def caesar(text, shift):\n    out = ''\n    for ch in text:\n        out += chr((ord(ch) - 97 + shift) % 26 + 97)\n    return out\n",
        ("caesar('abc', 1)", "caesar('xyz', 3)"),
    ),
    (
        "def count_words(text):\n    counts = {}\n    for word in text.lower().split():\n        counts[word] = counts.get(word, 0) + 1\n    return counts\n",
        ("count_words('the cat the hat')", "count_words('Go go')"),
    ),
    (
        "def zip_dict(keys, values):\n    return {k: v for k, v in zip(keys, values)}\n",
        ("zip_dict(['a', 'b'], [1, 2])", "zip_dict('xy', 'pq')"),
    ),
    (
        "def rotate(items, k):\n    if not items:\n        return items\n    k = k % len(items)\n    return items[k:] + items[:k]\n",
        ("rotate([1, 2, 3, 4], 1)", "rotate(['a', 'b'], 5)"),
    ),
    (
        "def product(nums):\n    result = 1\n    for n in nums:\n        result *= n\n    return result\n",
        ("product([2, 3, 4])", "product([])"),
    ),
    (
        "def pad_left(text, width):\n    missing = width - len(text)\n    if missing <= 0:\n        return text\n    return ' ' * missing + text\n",
        ("pad_left('7', 3)", "pad_left('hello', 2)"),
    ),
    (
        "def group_by_length(words):\n    groups = {}\n    for w in words:\n        groups.setdefault(len(w), []).append(w)\n    return groups\n",
        ("group_by_length(['a', 'bb', 'c'])", "group_by_length(['hey'])"),
    ),
    (
        "def safe_div(a, b):\n    try:\n        return a / b\n    except ZeroDivisionError:\n        return None\n",
        ("safe_div(7, 2)", "safe_div(1, 0)"),
    ),
    (
        "def last_index(items, target):\n    index = -1\n    for i, item in enumerate(items):\n        if item == target:\n            index = i\n    return index\n",
        ("last_index([1, 2, 1, 3], 1)", "last_index('abc', 'z')"),
    ),
    (
        "def swap_case(text):\n    return ''.join(c.lower() if c.isupper() else c.upper() for c in text)\n",
        ("swap_case('PyThOn')", "swap_case('ab')"),
    ),
    (
        "def diff_lists(a, b):\n    only_a = [x for x in a if x not in b]\n    only_b = [x for x in b if x not in a]\n    return only_a, only_b\n",
        ("diff_lists([1, 2, 3], [2, 4])", "diff_lists([], [1])"),
    ),
    (
        "def collatz_steps(n):\n    steps = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += 1\n    return steps\n",
        ("collatz_steps(6)", "collatz_steps(1)"),
    ),
    (
        "def parse_pairs(text):\n    result = {}\n    for part in text.split(','):\n        key, _, value = part.partition('=')\n        result[key.strip()] = value.strip()\n    return result\n",
        ("parse_pairs('a=1, b=2')", "parse_pairs('x=')"),
    ),
    (
        "def min_max(values):\n    low = high = values[0]\n    for v in values[1:]:\n        low = min(low, v)\n        high = max(high, v)\n    return low, high\n",
        ("min_max([4, 9, 1, 7])", "min_max([3])"),
    ),
    (
        "def acronym(phrase):\n    letters = [w[0] for w in phrase.replace('-', ' ').split()]\n    return ''.join(letters).upper()\n",
        ("acronym('portable network graphics')", "acronym('read-only memory')"),
    ),
    (
        "def nth_fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        ("nth_fib(7)", "nth_fib(0)"),
    ),
    (
        "def keys_with_value(mapping, wanted):\n    return sorted(k for k, v in mapping.items() if v == wanted)\n",
        ("keys_with_value({'a': 1, 'b': 2, 'c': 1}, 1)", "keys_with_value({}, 0)"),
    ),
    (
        "def compress(text):\n    out = []\n    for ch in text:\n        if out and out[-1][0] == ch:\n            out[-1][1] += 1\n        else:\n            out.append([ch, 1])\n    return out\n",
        ("compress('aaabcc')", "compress('x')"),
    ),
    (
        "def positive_ratio(nums):\n    positives = [n for n in nums if n > 0]\n    return len(positives) / len(nums)\n",
        ("positive_ratio([1, -2, 3, 0])", "positive_ratio([-1])"),
    ),
    (
        "def split_evens_odds(nums):\n    evens, odds = [], []\n    for n in nums:\n        (evens if n % 2 == 0 else odds).append(n)\n    return evens, odds\n",
        ("split_evens_odds([1, 2, 3, 4, 5])", "split_evens_odds([])"),
    ),
    (
        "def longest_word(text):\n    best = ''\n    for word in text.split():\n        if len(word) > len(best):\n            best = word\n    return best\n",
        ("longest_word('a quick brown fox')", "longest_word('hi')"),
    ),
    (
        "def bump_all(prices, percent):\n    return {item: round(cost * (1 + percent / 100), 2) for item, cost in prices.items()}\n",
        ("bump_all({'tea': 2.0, 'cake': 3.5}, 10)", "bump_all({}, 5)"),
    ),
    (
        "def between(values, low, high):\n    kept = []\n    for v in values:\n        if low <= v <= high:\n            kept.append(v)\n    return kept\n",
        ("between([1, 5, 9, 12], 4, 10)", "between([0], 1, 2)"),
    ),
    (
        "def snake_case(name):\n    out = ''\n    for ch in name:\n        if ch.isupper() and out:\n            out += '_'\n        out += ch.lower()\n    return out\n",
        ("snake_case('HelloWorld')", "snake_case('x')"),
    ),
    (
        "def tally(votes):\n    totals = {}\n    for vote in votes:\n        totals[vote] = totals.get(vote, 0) + 1\n    winner = max(totals, key=totals.get)\n    return winner, totals[winner]\n",
        ("tally(['a', 'b', 'a'])", "tally(['z'])"),
    ),
    (
        "def every_other(items):\n    return items[::2]\n",
        ("every_other([1, 2, 3, 4, 5])", "every_other('abcdef')"),
    ),
    (
        "def cumulative(words):\n    out = []\n    text = ''\n    for w in words:\n        text += w\n        out.append(text)\n    return out\n",
        ("cumulative(['a', 'b', 'c'])", "cumulative(['xy'])"),
    ),
    (
        "def nearest(values, target):\n    best = values[0]\n    for v in values:\n        if abs(v - target) < abs(best - target):\n            best = v\n    return best\n",
        ("nearest([1, 8, 5], 6)", "nearest([10], 0)"),
    ),
    (
        "def mask_email(email):\n    user, _, domain = email.partition('@')\n    return user[0] + '*' * (len(user) - 1) + '@' + domain\n",
        ("mask_email('alice@example.com')", "mask_email('b@x.org')"),
    ),
]


def predictions() -> list[tuple[str, str]]:
    """(source, call) for every function and call: 100 predictions."""
    return [(source, call) for source, calls in FUNCTIONS for call in calls]
