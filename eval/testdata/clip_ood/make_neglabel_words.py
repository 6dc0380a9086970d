"""Builds eval/neglabel_words.txt.gz, the candidate negative labels of plp's neglabel, from WordNet 3.0
as Debian's wordnet-base installs it (/usr/share/wordnet/data.noun, data.adj).

Each synset contributes its first lemma, lower case with underscores as spaces and the adjective
position markers (a), (p), (ip) removed, as in the NegLabel authors' word files (XueJiang16/NegLabel,
txtfiles/). Their files hold every noun lexicographer file except noun.animal (05) and noun.food (13),
and every adjective file; so does this list. A word is listed once, as a noun if it is both; each part
is sorted.

    apt-get install wordnet-base && python3 make_neglabel_words.py   # writes ../../neglabel_words.txt.gz
"""
import gzip
import os
import re

WORDNET = "/usr/share/wordnet"
SKIP_NOUN_FILES = {5, 13}  # noun.animal, noun.food


def first_lemmas(path, skip):
    out = []
    with open(path) as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            fields = line.split()
            if int(fields[1]) in skip:
                continue
            out.append(re.sub(r"\((a|p|ip)\)$", "", fields[4]).lower().replace("_", " "))
    return out


nouns = sorted(set(first_lemmas(os.path.join(WORDNET, "data.noun"), SKIP_NOUN_FILES)))
adjectives = sorted(set(first_lemmas(os.path.join(WORDNET, "data.adj"), set())) - set(nouns))
text = "\n".join(["# nouns"] + nouns + ["# adjectives"] + adjectives) + "\n"
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "neglabel_words.txt.gz")
with open(out, "wb") as f:
    f.write(gzip.compress(text.encode(), compresslevel=9, mtime=0))
print(len(nouns), "nouns,", len(adjectives), "adjectives")
