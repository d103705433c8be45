"""The public web chat API: the widget's endpoints, its guard and its event stream."""
