"""Dev set: loops, early returns, accumulators and `while` with index arithmetic.

Each function is traced once, with the call in its `# call:` line. Hand-written for the demo
model's dev set (issue 24); kept out of every training corpus.
"""


# call: sum_digits(4096)
def sum_digits(n):
    total = 0
    while n > 0:
        total += n % 10
        n //= 10
    return total


# call: binary_search([1, 3, 5, 7, 9, 11], 7)
def binary_search(items, target):
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


# call: first_negative([3, 0, 2, -4, 5])
def first_negative(values):
    for v in values:
        if v < 0:
            return v
    return None


# call: count_steps(6)
def count_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


# call: product([2, 3, 4])
def product(numbers):
    result = 1
    for n in numbers:
        result *= n
    return result


# call: fizz(6)
def fizz(n):
    out = []
    for i in range(1, n + 1):
        if i % 3 == 0:
            out.append("Fizz")
        else:
            out.append(str(i))
    return out


# call: all_positive([1, 5, 2])
def all_positive(xs):
    for x in xs:
        if x <= 0:
            return False
    return True


# call: two_sum([2, 7, 11, 15], 9)
def two_sum(nums, target):
    for i in range(len(nums)):
        for j in range(i + 1, len(nums)):
            if nums[i] + nums[j] == target:
                return i, j
    return None


# call: reverse_in_place([1, 2, 3, 4])
def reverse_in_place(items):
    i, j = 0, len(items) - 1
    while i < j:
        items[i], items[j] = items[j], items[i]
        i += 1
        j -= 1
    return items


# call: count_runs("aaabccdd")
def count_runs(s):
    if not s:
        return 0
    runs = 1
    for i in range(1, len(s)):
        if s[i] != s[i - 1]:
            runs += 1
    return runs


# call: power_of_two(40)
def power_of_two(limit):
    p = 1
    while p * 2 <= limit:
        p *= 2
    return p


# call: average([4, 8, 15, 16])
def average(values):
    if not values:
        return 0.0
    return sum(values) / len(values)


# call: skip_blanks(["a", "", "b", " ", "c"])
def skip_blanks(lines):
    kept = []
    for line in lines:
        if not line.strip():
            continue
        kept.append(line)
    return kept


# call: find_pair_sum([1, 4, 6, 9], 10)
def find_pair_sum(sorted_nums, target):
    left, right = 0, len(sorted_nums) - 1
    while left < right:
        s = sorted_nums[left] + sorted_nums[right]
        if s == target:
            return sorted_nums[left], sorted_nums[right]
        if s < target:
            left += 1
        else:
            right -= 1
    return None


# call: triangle(4)
def triangle(n):
    rows = []
    for i in range(1, n + 1):
        rows.append("*" * i)
    return rows


# call: gcd_loop(48, 18)
def gcd_loop(a, b):
    while b:
        a, b = b, a % b
    return a


# call: countdown(5)
def countdown(start):
    seen = []
    while start > 0:
        seen.append(start)
        start -= 2
    return seen


# call: max_gap([3, 8, 9, 15])
def max_gap(values):
    gap = 0
    for i in range(1, len(values)):
        gap = max(gap, values[i] - values[i - 1])
    return gap


# call: stop_at_zero([4, 2, 0, 7])
def stop_at_zero(numbers):
    total = 0
    for n in numbers:
        if n == 0:
            break
        total += n
    return total


# call: digits_reversed(1203)
def digits_reversed(n):
    result = 0
    while n:
        result = result * 10 + n % 10
        n //= 10
    return result


# call: grade(73)
def grade(score):
    if score >= 90:
        return "A"
    elif score >= 80:
        return "B"
    elif score >= 70:
        return "C"
    return "F"


# call: bubble_pass([5, 1, 4, 2])
def bubble_pass(items):
    for i in range(len(items) - 1):
        if items[i] > items[i + 1]:
            items[i], items[i + 1] = items[i + 1], items[i]
    return items
