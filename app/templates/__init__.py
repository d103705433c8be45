"""WhatsApp message templates: the business speaking first, and after the 24-hour window."""
