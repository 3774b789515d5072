"""Methods: an example call builds the object first, e.g. ``Account(100).withdraw(30)``."""


class Account:
    def __init__(self, balance):
        self.balance = balance
        self.history = []

    # prophecy: Account(100).withdraw(30)
    # prophecy: Account(10).withdraw(30)
    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError(f"only {self.balance} left")
        self.balance -= amount
        self.history.append(-amount)
        return self.balance

    def deposit_all(self, amounts):
        """Deposit several amounts; returns the new balance.

        >>> account = Account(0)
        >>> account.deposit_all([5, 10, 20])
        35
        """
        for amount in amounts:
            self.balance += amount
            self.history.append(amount)
        return self.balance
