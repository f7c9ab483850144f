"""Key names of CAL4Rec's learner: its optimizers, loss terms and variants."""

from __future__ import annotations

# optimizer names (Algorithm 1: θ_E, θ_G, θ_D)
ENCODER = "encoder"  # encoder, item embedding and policy head (Eq. 4–5)
GENERATOR = "generator"  # G(μ | s, a) with the tendency head (Eq. 6–8)
DISCRIMINATOR = "discriminator"  # D(r | s, a)

# loss terms, as logged
SSL_LOSS = "L_ssl"
G_LOSS = "L_G"  # the generator step's loss
D_LOSS = "L_D"  # the last discriminator step's loss (to minimise: −L_D of Eq. 9)
ENCODER_LOSS = "encoder_loss"  # L_ssl + gan_coef · L_G (encoder step)
D_REAL = "D_real_mean"  # mean D(r₁ | s, a)
D_FAKE = "D_fake_mean"  # mean D(G(μ | s, a) | s, a)
FAKE_PURCHASE = "generated_purchase_rate"  # mean generated purchase share
REAL_PURCHASE = "logged_purchase_rate"

# the paper's Figure 3 variants
FULL = "full"  # L_ssl + L_gan with the Gumbel-max operator
SSL_ONLY = "ssl"  # L_ssl only: the plain sequential recommender
GAN_ONLY = "gan"  # L_gan only
NO_GUMBEL = "ssl_gan_no_gumbel"  # L_ssl + L_gan, the generator's softmax without Gumbel noise
VARIANTS = (FULL, SSL_ONLY, GAN_ONLY, NO_GUMBEL)
