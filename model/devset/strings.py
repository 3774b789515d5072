"""Dev set: string handling. Each function is traced once, with the call in its `# call:` line.

Hand-written for the demo model's dev set (issue 24); kept out of every training corpus.
"""


# call: title_words("the quick brown fox")
def title_words(sentence):
    return " ".join(w.capitalize() for w in sentence.split())


# call: strip_suffix("report_final.txt", ".txt")
def strip_suffix(name, suffix):
    if name.endswith(suffix):
        return name[: -len(suffix)]
    return name


# call: count_upper("Hello World ABC")
def count_upper(text):
    n = 0
    for ch in text:
        if ch.isupper():
            n += 1
    return n


# call: mask_card("4111222233334444")
def mask_card(number):
    visible = number[-4:]
    hidden = "*" * (len(number) - 4)
    return hidden + visible


# call: is_palindrome("Never odd or even")
def is_palindrome(phrase):
    letters = [c.lower() for c in phrase if c.isalpha()]
    return letters == letters[::-1]


# call: first_word("   leading spaces here")
def first_word(text):
    parts = text.split()
    if not parts:
        return ""
    return parts[0]


# call: snake_to_camel("max_retry_count")
def snake_to_camel(name):
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# call: camel_to_snake("parseHttpHeader")
def camel_to_snake(name):
    out = []
    for ch in name:
        if ch.isupper():
            out.append("_")
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


# call: squeeze_spaces("a   b  c    d")
def squeeze_spaces(text):
    result = ""
    previous = ""
    for ch in text:
        if ch == " " and previous == " ":
            continue
        result += ch
        previous = ch
    return result


# call: extension("archive.tar.gz")
def extension(filename):
    dot = filename.rfind(".")
    if dot == -1:
        return ""
    return filename[dot + 1:]


# call: repeat_chars("abc", 3)
def repeat_chars(word, times):
    return "".join(ch * times for ch in word)


# call: vowel_positions("banana")
def vowel_positions(word):
    return [i for i, ch in enumerate(word) if ch in "aeiou"]


# call: pad_left("42", 6)
def pad_left(text, width):
    while len(text) < width:
        text = "0" + text
    return text


# call: count_words("one two  three four")
def count_words(line):
    return len(line.split())


# call: swap_case_manual("PyThOn")
def swap_case_manual(s):
    chars = []
    for c in s:
        chars.append(c.lower() if c.isupper() else c.upper())
    return "".join(chars)


# call: parse_key_value("color=blue")
def parse_key_value(pair):
    key, _, value = pair.partition("=")
    return key.strip(), value.strip()


# call: longest_word("a stitch in time saves nine")
def longest_word(sentence):
    best = ""
    for word in sentence.split():
        if len(word) > len(best):
            best = word
    return best


# call: reverse_words("hello brave new world")
def reverse_words(text):
    words = text.split(" ")
    words.reverse()
    return " ".join(words)


# call: digits_only("tel: +1 (555) 010-9999")
def digits_only(text):
    return "".join(filter(str.isdigit, text))


# call: center_label("ok", 8)
def center_label(label, width):
    return label.center(width, "-")


# call: abbreviate("portable network graphics")
def abbreviate(phrase):
    letters = ""
    for word in phrase.split():
        letters += word[0].upper()
    return letters


# call: truncate("The rain in Spain", 10)
def truncate(text, limit):
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."
