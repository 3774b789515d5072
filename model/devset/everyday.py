"""Dev set: everyday mixtures (tuples, builtins, parsing, formatting, small records).

Each function is traced once, with the call in its `# call:` line. Hand-written for the demo
model's dev set (issue 24); kept out of every training corpus.
"""


# call: parse_csv_line("3,apple,0.5")
def parse_csv_line(line):
    qty, name, price = line.split(",")
    return name, int(qty) * float(price)


# call: min_max([7, 2, 9, 4])
def min_max(values):
    return min(values), max(values)


# call: format_price(3.5)
def format_price(amount):
    return f"${amount:.2f}"


# call: safe_int("12x")
def safe_int(text):
    try:
        return int(text)
    except ValueError:
        return 0


# call: join_path(["usr", "local", "bin"])
def join_path(parts):
    return "/" + "/".join(parts)


# call: oldest([("ann", 31), ("bo", 45), ("cy", 28)])
def oldest(people):
    best = people[0]
    for person in people[1:]:
        if person[1] > best[1]:
            best = person
    return best[0]


# call: zip_to_dict(["a", "b", "c"], [1, 2, 3])
def zip_to_dict(keys, values):
    return dict(zip(keys, values))


# call: percent(17, 40)
def percent(part, whole):
    if whole == 0:
        return 0
    return round(100 * part / whole, 1)


# call: sort_by_second([("x", 3), ("y", 1), ("z", 2)])
def sort_by_second(pairs):
    return sorted(pairs, key=lambda p: p[1])


# call: tags_from("#python #code #fun")
def tags_from(text):
    return [t.lstrip("#") for t in text.split() if t.startswith("#")]


# call: hms(3725)
def hms(seconds):
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


# call: is_valid_email("someone@example.com")
def is_valid_email(address):
    if address.count("@") != 1:
        return False
    user, domain = address.split("@")
    return bool(user) and "." in domain


# call: bmi_class(70, 1.75)
def bmi_class(weight, height):
    bmi = weight / height ** 2
    if bmi < 18.5:
        return "under"
    if bmi < 25:
        return "normal"
    return "over"


# call: any_long(["ab", "abcdef", "x"], 5)
def any_long(words, n):
    return any(len(w) > n for w in words)


# call: transpose([[1, 2, 3], [4, 5, 6]])
def transpose(matrix):
    return [list(row) for row in zip(*matrix)]


# call: celsius_list([32, 212, 50])
def celsius_list(fahrenheit):
    return [round((f - 32) * 5 / 9) for f in fahrenheit]


# call: bool_flags("yes")
def bool_flags(answer):
    answer = answer.strip().lower()
    return answer in ("y", "yes", "true", "1")


# call: initials_of(["Grace", "Murray", "Hopper"])
def initials_of(names):
    return "".join(n[0] for n in names)


# call: count_lines("a\nb\n\nc")
def count_lines(text):
    return len([line for line in text.split("\n") if line])


# call: with_index(["x", "y"])
def with_index(items):
    return [f"{i}:{item}" for i, item in enumerate(items, start=1)]


# call: apply_discount([10.0, 25.0, 4.0], 0.1)
def apply_discount(prices, rate):
    result = []
    for p in prices:
        result.append(round(p * (1 - rate), 2))
    return result


# call: version_tuple("3.11.4")
def version_tuple(version):
    return tuple(int(part) for part in version.split("."))


# call: nested_get({"a": {"b": {"c": 5}}}, ["a", "b", "c"])
def nested_get(data, path):
    node = data
    for key in path:
        node = node[key]
    return node


# call: divide_all([8, 6, 0, 4], 2)
def divide_all(values, d):
    out = []
    for v in values:
        out.append(v // d)
    return out


# call: stack_ops(["push 3", "push 4", "pop", "push 7"])
def stack_ops(commands):
    stack = []
    for cmd in commands:
        if cmd.startswith("push"):
            stack.append(int(cmd.split()[1]))
        else:
            stack.pop()
    return stack
