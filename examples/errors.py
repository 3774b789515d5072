"""Exceptions: a caught one shows the handler running; an escaping one ends the trace."""


# prophecy: parse_port("8080")
# prophecy: parse_port("80a")
def parse_port(text):
    try:
        port = int(text)
    except ValueError:
        return None
    if not 0 < port < 65536:
        return None
    return port


# prophecy: average([])
def average(values):
    total = sum(values)
    return total / len(values)
