"""The names the command line offers, without importing torch: the kinds of model, the
likelihoods of a matrix and the built-in guides.

``pyro-lvm --help`` must not wait for torch to load, so the parser reads its choices from here;
the registries that build the objects (``runs.recipes.RECIPES``,
``likelihoods.LIKELIHOODS``, ``guides.GUIDES``) hold exactly these names (a test checks).
"""

#: What ``pyro-lvm train`` trains.
MODEL_KINDS = ("flow", "gmm", "ppca", "vae")
#: The likelihoods a whole matrix can have.
LIKELIHOOD_NAMES = ("bernoulli", "beta", "cbernoulli", "gaussian", "negbinom", "poisson",
                    "studentt", "zinb")
#: The built-in amortized guides, as an error message or the help lists them.
GUIDE_NAMES = "'meanfield', 'fullrank' or 'flow:SPEC' (e.g. 'flow:iaf*2')"
