"""Community activities (关联活动): sign-up, rotating-QR check-in, volunteer hours, and verifiable participation
certificates (政策激励) checked at ``/verify/<code>``."""
