"""Live versus backtest: trade matching, the seed's success metrics, the HTML report."""
