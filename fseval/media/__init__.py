"""Decoding images and video clips for prompts."""
