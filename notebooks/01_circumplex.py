# %% [markdown]
# # The circumplex model of affect
#
# **Reproduces**: the seed report's Figure 2 (the eight affect concepts on the
# circle), Figures 3 and 4 (Russell's circular-ordering and word-placement
# frequencies) and Figure 5 (the 28 words placed on the circle).
#
# Russell {cite}`russell1980` proposed that affect is organised on two
# bipolar axes, pleasure-displeasure (valence) and arousal-sleepiness, with
# every affect word a direction from the centre of that plane. The seed report
# {cite}`dasilva2023` uses his circle as the yardstick for everything that
# follows: the emotion clusters that wav2vec2 features form should come in the
# same circular order. This chapter rebuilds the yardstick from Russell's own
# numbers, so that later chapters can compare against derived angles rather
# than a picture.
#
# **What it needs**: nothing but the `emocirc` package; no audio, no model.

# %% tags=["parameters"]
# Resultant length (rater agreement, 0-1) below which a word's angle is reported as uncertain.
min_resultant_length = 0.5

# %%
import pandas as pd
from IPython.display import display

from emocirc import russell
from emocirc.plotting import apply_style
from emocirc.plotting import circumplex as circplot
from emocirc.provenance import banner

apply_style()
banner({}, "none")

# %% [markdown]
# ## The eight anchors
#
# Russell placed eight concepts at 45-degree steps, counter-clockwise from
# pleasure: excitement is pleasant and aroused, distress unpleasant and
# aroused, depression unpleasant and calm, contentment pleasant and calm.
# The horizontal axis is valence, the vertical one arousal.

# %%
anchors = pd.Series(russell.CATEGORY_ANGLES, name="angle (degrees)")
anchors.to_frame().T

# %%
fig = circplot.circumplex_diagram(words=False, title="Figure 2 (reproduced): the eight affect concepts")

# %% [markdown]
# ## Russell's two tables
#
# In the circular-ordering study, 36 students arranged the eight category
# terms around a circle; position 1 is wherever each student put *aroused*.
# The diagonal dominates: most students reproduced the circle.

# %%
russell.circular_ordering_table()

# %% [markdown]
# In the second table, the same students sorted 28 affect words into the
# eight categories. Each row should sum to 36. Two rows in the seed's
# transcription do not, and the package flags them instead of guessing a
# correction:

# %%
figure4 = russell.category_frequency_table()
problems = russell.row_sum_problems(figure4)
print("Rows that do not sum to 36:", problems)
figure4

# %% [markdown]
# ## Each word's angle
#
# A word's angle is the frequency-weighted circular mean of the eight
# category angles it was sorted into. The resultant length says how much the
# raters agreed: 1 when all 36 chose the same category, near 0 when they
# spread around the circle.

# %%
angles = russell.word_angles()
uncertain = angles[angles["resultant_length"] < min_resultant_length]
print(f"{len(uncertain)} word(s) with resultant length below {min_resultant_length}:", list(uncertain.index))
angles.round(2)

# %%
fig = circplot.circumplex_diagram(title="Figure 5 (reproduced): the 28 words at their derived angles")

# %% [markdown]
# ## Where the corpora's emotions belong
#
# The corpora in this book label utterances with category words, not with
# Russell's 28. The package maps each label to the matching word (anger to
# *angry*, happiness to *happy*, sadness to *sad*, fear to *afraid*, boredom
# to *bored*) and, as a second reference, to the NRC VAD lexicon
# {cite}`mohammad2018`. Neutral belongs at the origin. Disgust is not among
# Russell's words, so it has no angle under his reference.

# %%
emotions = ["anger", "happiness", "sadness", "neutral", "fear", "disgust", "boredom"]
reference = pd.concat(
    {
        "Russell 1980": russell.expected_positions(emotions, reference="russell"),
        "NRC VAD": russell.expected_positions(emotions, reference="nrc-vad"),
    },
    axis=1,
)
display(reference.round(2))

# %% [markdown]
# ## Beside the report
#
# The report shows Russell's tables as images and draws the words at the
# positions of Russell's scaling solution (its Figure 5). Here the angles are
# derived from the frequencies themselves; the counter-clockwise order they
# give, starting from the word nearest to pleasure:

# %%
print(" -> ".join(angles.sort_values("angle_deg").index))

# %% [markdown]
# The derived order runs through the same four quadrants as Russell's figure:
# pleasant-aroused words (*delighted*, *excited*), then the unpleasant-aroused
# ones (*tense*, *angry*, *afraid*, *distressed*), the unpleasant-calm ones
# (*sad*, *depressed*, *bored*), and the pleasant-calm ones (*calm*,
# *content*, *serene*). The two rows that do not sum to 36 (*alarmed* and
# *angry*) are problems of the report's transcription; their angles are
# computed from the counts as given and flagged above, not corrected.
#
# **Next**: the corpora that the rest of the book runs on.
