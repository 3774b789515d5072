"""Dev set: dicts and sets. Each function is traced once, with the call in its `# call:` line.

Hand-written for the demo model's dev set (issue 24); kept out of every training corpus.
"""


# call: letter_counts("hello")
def letter_counts(word):
    counts = {}
    for ch in word:
        counts[ch] = counts.get(ch, 0) + 1
    return counts


# call: invert({"a": 1, "b": 2, "c": 3})
def invert(mapping):
    return {v: k for k, v in mapping.items()}


# call: group_by_length(["hi", "yes", "no", "cat"])
def group_by_length(words):
    groups = {}
    for w in words:
        groups.setdefault(len(w), []).append(w)
    return groups


# call: merge_dicts({"x": 1, "y": 2}, {"y": 5, "z": 7})
def merge_dicts(first, second):
    merged = dict(first)
    merged.update(second)
    return merged


# call: common_items([1, 2, 3, 4], [3, 4, 5])
def common_items(a, b):
    return sorted(set(a) & set(b))


# call: lookup_or_default({"red": 1, "green": 2}, "blue")
def lookup_or_default(table, key):
    if key in table:
        return table[key]
    return 0


# call: keys_with_value({"a": 1, "b": 2, "c": 1}, 1)
def keys_with_value(d, target):
    return [k for k, v in d.items() if v == target]


# call: total_price({"apple": 3, "pear": 2}, {"apple": 0.5, "pear": 1.25})
def total_price(quantities, prices):
    total = 0
    for item, qty in quantities.items():
        total += qty * prices[item]
    return total


# call: unique_count(["a", "b", "a", "c", "b"])
def unique_count(items):
    return len(set(items))


# call: most_common_char("mississippi")
def most_common_char(text):
    counts = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    best = max(counts, key=counts.get)
    return best


# call: rename_key({"old": 5, "keep": 1}, "old", "new")
def rename_key(d, old, new):
    if old in d:
        d[new] = d.pop(old)
    return d


# call: filter_scores({"ann": 82, "bob": 45, "cy": 67}, 60)
def filter_scores(scores, cutoff):
    passed = {}
    for name, score in scores.items():
        if score >= cutoff:
            passed[name] = score
    return passed


# call: index_words(["cat", "dog", "cow"])
def index_words(words):
    return {word: i for i, word in enumerate(words)}


# call: missing_letters("the cat")
def missing_letters(text):
    present = set(text)
    return [c for c in "abcdefgh" if c not in present]


# call: has_duplicates([4, 2, 7, 2])
def has_duplicates(items):
    seen = set()
    for item in items:
        if item in seen:
            return True
        seen.add(item)
    return False


# call: sum_values({"a": 4, "b": 10, "c": 1})
def sum_values(d):
    return sum(d.values())


# call: first_repeated("abcdbe")
def first_repeated(s):
    seen = set()
    for ch in s:
        if ch in seen:
            return ch
        seen.add(ch)
    return None


# call: word_lengths("to be or not")
def word_lengths(sentence):
    return {w: len(w) for w in sentence.split()}


# call: sorted_keys({"pear": 1, "apple": 2, "fig": 3})
def sorted_keys(mapping):
    keys = list(mapping.keys())
    keys.sort()
    return keys


# call: count_by_parity([1, 2, 3, 5, 8])
def count_by_parity(numbers):
    tally = {"even": 0, "odd": 0}
    for n in numbers:
        if n % 2:
            tally["odd"] += 1
        else:
            tally["even"] += 1
    return tally


# call: symmetric_difference({1, 2, 3}, {2, 3, 4})
def symmetric_difference(a, b):
    return sorted(a ^ b)
