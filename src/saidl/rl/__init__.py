"""Reinforcement learning: TD3 on MuJoCo Hopper with Noisy Nets, PER, n-step returns and SALE."""
