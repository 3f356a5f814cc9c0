"""Meta-learned initialisation of field models: meta-training on the corpus's crops
(``train``) and the learned init vs random inits on its test photos (``evaluate``)."""
