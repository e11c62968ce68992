"""The event log: what shoppers do (views, cart changes, purchases, clicks on recommendations)."""
