"""String handling, where small slips (off-by-one slices, wrong strip) are easy to make."""


# prophecy: count_letters("strawberry", "r")
def count_letters(word, letter):
    count = 0
    for char in word:
        if char == letter:
            count += 1
    return count


def initials(full_name):
    """Initials of a name, upper-cased, one dot each.

    >>> initials("ada  lovelace")
    'A.L.'
    """
    parts = full_name.split()
    letters = [part[0].upper() for part in parts]
    return "".join(letter + "." for letter in letters)


# prophecy: slugify("  Hello, World! 2024 ")
def slugify(title):
    words = []
    for word in title.lower().split():
        cleaned = "".join(ch for ch in word if ch.isalnum())
        if cleaned:
            words.append(cleaned)
    return "-".join(words)
