"""The Telegram bot: chats linked to users by one-time deep links, and the bot's commands."""
