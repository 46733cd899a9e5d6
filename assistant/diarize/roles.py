"""Who is the rep and who is the customer.

Decided in this order, first that applies:

1. **Channel**: a two-party stereo recording with ``rep_channel`` set: that channel is the rep
   (confidence 1.0).
2. **Imported transcript**: a ``role`` written on a speaker's turns is final
   (``role_source="transcript"``, confidence 1.0), and so is a speaker called like an enrolled
   rep. When that makes someone the rep, every speaker left is a customer; otherwise the
   heuristic decides among the speakers left, and only them.
3. **Voice profile**: a speaker whose voice matches an enrolled rep
   (``assistant.diarize.profiles``) is that rep, named after them; everyone else is a customer,
   unless a second rep matches. The confidence is the cosine similarity.
4. **Heuristic** (nothing above applies), over what each speaker said. Each speaker gets a
   score, the weighted sum of these features, each taken relative to the mean of the other
   speakers:

   ================================================================ =======
   feature                                                           weight
   ================================================================ =======
   opened the call (first speaker with at least three words)           +0.25
   seller phrases per utterance: the offering ("our product", "wir      +2.93
   bieten"), its condition ("in great condition", "wie neu"), the
   price asked and given ("I'm asking", "I can't go lower", "I can
   include"), answering an objection ("understood", "verstehe");
   asked as a question only what a seller asks ("are you interested?")
   buyer phrases per utterance: needs ("we need", "wir brauchen"),      -3.61
   interest ("I'm interested"), price pushback ("too much", "would
   you take", "zu teuer", "können Sie runtergehen"), questions about
   the item ("does it have", "is it still available")
   share of the call's questions that ask about the other person        +2.97
   ("how does your team do it today?"), not about the item or the
   deal and not a greeting
   "you/your/Sie/du/euch..." per 10 words in statements (a seller       +4.25
   offers: "I'll send you", "you can", "ich schicke Ihnen"); a
   buyer's "you" is mostly in questions and requests
   ================================================================ =======

   The highest score is the rep, the others customers. The confidence is
   ``logistic(0.5 * margin)``, the margin being the best score minus the second best: for two
   speakers that is the regression's own probability that the chosen one is the rep (the
   opener alone: 0.56; a lone speaker: the rep, 0.5). **No sales talk**: when nobody says a
   seller or a buyer phrase and nobody asks about the other person (small talk, read text),
   the style cues alone are weak evidence
   (on pairs of read FLEURS texts they named a rep with confidence up to 0.98, either way
   round): the confidence is at most 0.5.

   **Who states needs** (the pipeline adds it before extraction, ``reassess_roles``): the
   extractor reads the call with the roles withheld, and each speaker's mean probability that
   an utterance states a customer need (``assistant.extract.need_talk``, at most 40 utterances
   a speaker) enters the score with weight ``NEED_WEIGHT`` (4.0), relative to the other
   speakers' mean. By the data's labelling rules only a customer states a need, and the model
   has read thousands of them in more ways than the cue phrases know. Objections are left out:
   a seller turning down a low offer reads like one (with them, the negotiations fell from
   95.0% to 93.3%). The weight was chosen on the written calls that the extractors of the time
   never saw (calls_en_e, calls_en_g, calls_de_g); it decides the ranking and the two-party
   call, not the vendor-side groups below (there it helped calls_de_g and hurt calls_en_g).

   **Several people on the vendor's side** (three or more speakers): a rep often brings a
   colleague, an engineer or an implementer, whose words alone hardly sell. But the
   sides answer each other: the customers answer the rep's questions, and the vendor's people
   answer the customers'. ``vendor_side`` picks the group of up to three people across which
   most speaker changes fall, less 0.06 of them for each person beyond the first, plus 0.02
   times the group's mean score above; each of several people must score at least 0.25
   against the rest, and a rep the words alone are sure of (confidence 0.7 or more) stays in
   it. When that group is not the best speaker alone, everyone in it is a rep, with confidence
   ``SIDE_CONFIDENCE`` (0.6: "roles uncertain").

   **Introductions** (speakers with names, as an imported transcript has them): people introduce
   their own side ("Marek is with me", "I've got Bruno with me", "Jonas heads our data team", "on
   our side: Eva and Jonas", "der Lukas von uns", "die Eva ist auch dabei"; ``introductions``,
   which tells them from greetings and requests: "Hi Sofia", "Sofia, can you send Bruno...";
   in the project's written calls it finds 26 such pairs and in held_out/ 5, none of them across
   the two sides). Two
   people so introduced stay on one side: a group that splits them loses ``split_link`` (0.5) and
   one that holds both gains ``joint_link`` (0.1), and someone a groupmate introduced need not
   score ``min_score`` (an implementer handed the call says little that sells). The values are
   the middle of the best of ``scripts/eval_roles.py --link-grid`` (as ``--side-grid``, never
   on held_out/): eight of its sixteen settings tie there, split 0.5 to 1.0 with joint 0.06 to
   0.3 among them; without the joint value, fewer calls come out right. Diarization's labels
   (``SPEAKER_1``) name nobody, so a recording gets none of this. **Meetings**: with more than two
   speakers, when nobody on the chosen side says ``MIN_SELLER_RATE`` (0.1) seller phrases per
   utterance, nobody is selling and the confidence is at most 0.5. Below
   ``assistant.report.ROLE_CONFIDENCE_THRESHOLD`` (0.7) the speakers are marked
   ``role_uncertain`` and the call page says "roles uncertain".

   The weights are a logistic regression (L2) fitted on the project's written sales calls
   ``models/extractor/data/calls_en_a.jsonl`` and ``calls_de.jsonl``, each call as written and
   cut to start with the customer (``python scripts/eval_roles.py --fit``). Measured with
   ``python scripts/eval_roles.py`` (roles withheld; the rep counts as found when everyone
   called a rep is on the vendor's side; need talk from the extractors shipped with these
   numbers):

   - 300 real buyer-seller price negotiations typed by people (CraigslistBargain, the seller as
     the rep; never fitted on): 95.0% (96.2% of the 88.3% above the threshold), with need talk
     as without.
   - the calls not fitted on, as written / cut to start with the customer, with need talk
     (the words alone): ``calls_en_b`` 100% / 98.8% (100% / 97.6%), ``calls_en_c`` 97.5% / 97.5%
     (95.0% / 95.0%), ``calls_en_e`` 96.7% / 93.3% (100% / 86.7%), ``calls_en_l`` 100% / 100%,
     ``calls_en_m`` 95.8% / 95.8% (the same), ``calls_de_b`` 98.0% / 98.0% (98.0% / 94.1%),
     ``calls_de_c``, ``calls_de_d`` and ``calls_de_i`` 100% / 100%, ``calls_de_e`` and
     ``calls_de_f`` 100% / 100% (100% / 95.7% and 95.8%).
   - multi-party calls with two or three people on the vendor's side in most, every speaker's
     role right (before the vendor-side rule: 0-20%): ``calls_en_g`` 95.0% / 90.0% (before
     introductions: 90.0% / 85.0%) and ``calls_de_g`` 100% / 93.8% (87.5% / 87.5%), the rule's
     settings chosen on these (``scripts/eval_roles.py --side-grid`` and ``--link-grid``);
     ``calls_en_h`` 85.0% / 85.0% and ``calls_en_i`` 100% / 95.0% (with the words alone before
     introductions: 85.0% / 85.0% and 90.0% / 95.0%); never tuned on, ``held_out/calls_en_f``
     84.0% / 68.0% (76.0% / 68.0%) and ``held_out/calls_de_h`` 73.3% / 66.7% (66.7% / 66.7%),
     with 93.3% / 89.3% and 92.5% / 90.0% of their speakers right (before introductions: 89.9% /
     89.3% and 90.0% / 90.0%; before the vendor-side rule: 79.9% / 78.5% and 82.5% / 80.0%),
     with need talk as without. Introductions help the calls as written, not those cut to start
     with the customer, where most of them are cut off.
   - 117 four-person AMI design meetings (nobody sells): a rep above the threshold in none of
     the whole meetings and in 1.0% of their 40-utterance pieces (every 4th piece; the words
     alone: 1.4% of all pieces). The meeting rule fires on
     93-100% of those and on 0-16% of the single-rep sales calls (the three-person ones whose
     rep says little that sells), which then say "roles uncertain" too.

   The cue phrases were written for sales calls and for buying and selling in general, then
   extended while reading where the negotiations went wrong, and where the calls above cut to
   start with the customer went wrong (``calls_en_b``, ``_c``, ``_e``, ``_l``, ``_m``,
   ``calls_de_b``: a price named per unit, "seventy nine a month", is the seller's; a price
   weighed against what one hoped or paid, "more than I hoped", the buyer's), so those rows
   no longer measure the cues on calls nobody read for them; the negotiations and held_out/
   do, and their reps right did not move. Last, for a vendor who shows and offers rather than
   names the product ("so this is the owner portal", "let me put together", "most customers
   start", "ich zeig Ihnen jetzt die App", "da gibt's eine Schnittstelle", "fünf Jahre
   Garantie", "ich mach Ihnen ein Angebot"), while reading the three-person calls of
   ``calls_de_c``, ``calls_en_a`` and ``calls_en_b`` that the meeting rule took for meetings:
   by the words alone it fired on 30.6%, 8.2% and 9.5% of them as written, now on 16.1%, 2.0%
   and 7.1% (with need talk too). On the calls nobody read for these cues no row's reps right
   fell: ``held_out/calls_en_f`` as written 80.0% to 84.0% (one call's whole vendor side now
   right), ``calls_en_i`` customer first 90% to 95%, ``held_out/calls_de_h``'s meeting rule
   26.7% to 20.0%; AMI's pieces with a rep asserted stayed at 1.0% (the words alone: 1.4% to
   1.5%). The extractor reading these roles (``scripts/eval_extractor.py``, roles withheld):
   ``calls_de_h`` 0.795 to 0.800, ``calls_en_f`` 0.778 to 0.772 (one call the meeting rule no
   longer takes is read with a side half wrong instead of without roles), both inside noise.
   Only the weights are fitted (not again for these cues), and only on the project's calls.
   Written calls and typed chats are not recordings: expect less on transcribed speech, where a
   voice profile or the channel mapping is the way to be sure.

A person can override any role later (``role_source="manual"``).

**A guess at best**: when every role is the heuristic's and its confidence is at most
``UNSURE_CONFIDENCE`` (0.5), the extractor reads the call with the roles withheld
(``roles_to_read``), as it reads a transcript without them. That is a single voice (the rep by
default: a customer merged into the rep's voice would otherwise lose every need and objection),
a meeting where nobody sells (the meeting rule), and talk in which nobody sells or buys. Read
with a guessed rep, the 24 AMI test meetings showed 166 customer needs and objections in
meetings that have no customer, and action-item F1 0.328; read with the roles withheld, 16 and
0.372 (``python scripts/eval_extractor.py``, whose AMI row takes the product's path).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from assistant.diarize.profiles import VoiceProfile, match_profiles, slug
from assistant.diarize.types import Diarization, DiarizeOptions, Turn
from assistant.report import ROLE_CONFIDENCE_THRESHOLD, Role, RoleSource, Segment, Speaker

# An amount of money in digits or in words ("1,200", "one seventy-nine", "zweihundert").
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty|"
    r"forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|ein|zwei|drei|vier|fünf|sechs|"
    r"sieben|acht|neun|zehn|\w+zehn|\w+zig|hundert|tausend)"
)
_AMOUNT = rf"(?:[$€£]?\d[\d,.']*|{_NUMBER_WORD}(?:[\s-]+(?:and\s+|und)?{_NUMBER_WORD})*)"
# What a seller says: the offering, its condition, the price they ask and what they will give.
_SELLER = (
    r"\bour (?:product|platform|solution|software|tool|service|offering|pricing|plans?|"
    r"customers|clients|team can|onboarding|support team)\b",
    r"\bwe (?:offer|provide|support|integrate|can set (?:you|that) up|have a (?:plan|package))\b",
    r"\blet me (?:show|walk you through|share my screen)\b",
    r"\bi(?:'ll| will) send (?:you|over)\b",
    r"\b(?:a|the) (?:demo|trial|proposal|quote)\b",
    r"\bi(?:'m| am) (?:asking|selling|offering)\b",
    r"\b(?:i|we) (?:can|could|would|will)(?: also| even)? (?:include|throw in|knock|drop|lower|"
    r"(?:give|offer) you (?:a|an|the|my|our|some|free)|let (?:it|them) go)\b",
    r"\bas low as (?:i|we) (?:can|could|will) go\b",
    r"\b(?:i|we) (?:can(?:'t|not)|couldn't|won't) (?:go|do|take|let it go)(?: any)? "
    r"(?:lower|less|below|that low|for that)\b",
    r"\b(?:the )?lowest (?:i|we) (?:can|could|would|will)\b",
    r"\b(?:great|good|excellent|perfect|fantastic|mint|new|working) (?:condition|shape|order)\b",
    r"\b(?:brand new|barely used|never (?:been )?used|well (?:maintained|cared for|kept))\b",
    r"\bi(?:'ve| have)? (?:bought|used|had) (?:it|them|this)\b",
    r"\bunser(?:e|en|em|er)? (?:produkt|plattform|lösung|software|angebot|service|kunden|team|"
    r"preis)\b",
    r"\bwir bieten\b",
    r"\bbei uns (?:können|bekommen|gibt es)\b",
    r"\bich (?:zeige|schicke|sende|gebe|mache) (?:ihnen|dir)\b",
    r"\b(?:eine|die) (?:demo|testphase)\b",
    r"\b(?:ich|wir) (?:kann|können|könnte|könnten) (?:ihnen|dir|euch)\b",
    r"\b(?:ich|wir) (?:verkaufe|verkaufen)\b",
    r"\b(?:guten|gutem|sehr guten|sehr gutem|einwandfreien|einwandfreiem|top) zustand\b",
    r"\b(?:neuwertig|wie neu|kaum benutzt|festpreis|mein letzter preis|mein letztes angebot)\b",
    # Turning down a low offer, asking the buyer to come up, what comes with the item.
    r"\b(?:too|far too|way too|a bit|a little|kind of|pretty) low\b",
    r"\b(?:go|come|move) (?:up|higher)\b",
    r"\b(?:comes?|came) with\b",
    r"\b(?:it's|it is|they're|they are|this is) (?:still )?(?:available|yours)\b",
    r"\b(?:no|never had any) (?:scratches|damage|issues|problems|stains|smells?|dents|rust)\b",
    r"\b(?:works|working|runs|running) (?:perfectly|great|fine|well)\b",
    r"\b(?:final|lowest|best|firm) (?:price|offer)\b",
    r"\bi(?:'ll| will| can| could)(?: even)? (?:deliver|drop (?:it|them) off|hold (?:it|them)|"
    r"bring (?:it|them))\b",
    r"\bi(?:'m| am) willing to (?:negotiate|do|go|drop|come down|meet|take)\b",
    r"\b(?:i|we) (?:can|could) (?:go|come) down\b",
    r"\bi(?:'m| am) (?:moving|relocating|upgrading)\b",
    r"\b(?:i'll|i will|we'll|we will) send you\b",
    r"\bthank you (?:both|all|everyone)\b",
    r"\b(?:zu niedrig|zu wenig|etwas mehr|mehr bieten|noch zu haben|noch verfügbar)\b",
    r"\bich (?:kann|könnte) (?:ihnen |dir )?(?:beim preis |mit dem preis )?(?:etwas |noch )?"
    r"(?:runter|entgegenkommen|nachlassen)\b",
    r"\b(?:ich liefere|ich bringe|dabei ist|inklusive|funktioniert einwandfrei)\b",
    # A vendor's options and what the offer includes.
    r"\bwe (?:can|could) (?:also )?(?:offer|do|set|add|make|get|include|give|switch)\b",
    r"\b(?:there's|there is) also (?:the|an) option\b",
    r"\bthe (?:system|offer|package|plan|setup|solution|proposal) we (?:proposed|offer|quoted)\b",
    r"\b(?:ours (?:includes?|has|comes)|(?:is|are) included|other (?:customers|clients))\b",
    r"\bwe(?:'ve| have) done (?:that|this|it) (?:for|with|at)\b",
    r"\bwir haben (?:auch )?(?:ein|eine|einen) (?:\w+modell|paket|angebot|sonderpreis|option)\b",
    r"\b(?:sonderpreis|da wären wir bei|für andere kunden)\b",
    r"\b(?:ist|sind) (?:schon |auch )?(?:drin|inklusive|enthalten)\b",
    r"\b(?:könnten|können) wir (?:das|ihnen|euch|auch)\b",
    r"\bwir (?:können|könnten) (?:das|ihnen|euch|auch)\b",
    # A vendor answering an objection and promising to come back.
    r"\b(?:understood|i hear you|fair enough|that's fair|good catch|good point|good question)\b",
    r"\blet me (?:go back|check with (?:my|our)|talk to (?:my|our)|see what i can)\b",
    r"\bour \w+ team (?:can|could|will|would)\b",
    r"\bwe have (?:a|an) (?:\w+ )?(?:integration|connector|option|module|plan|team|partner)\b",
    r"\ba lot of (?:our )?(?:customers|clients|companies|teams|fleets|shops|firms) "
    r"(?:start|use|do)\b",
    r"\b(?:verstehe|nachvollziehbar|das hören wir|guter punkt|berechtigter punkt|"
    r"wichtiger punkt)\b",
    r"\b(?:bei|für) (?:anderen|einem|vielen) kunden\b",
    # A vendor showing the product and offering what comes next ("so this is the owner portal",
    # "that's built in", "let me put together a quote", "most customers start with").
    r"\b(?:share|sharing) my screen\b",
    r"\b(?:so )?this is (?:the|our) \w+ (?:view|dashboard|portal|screen|builder|app)\b",
    r"\b(?:that's|it's|that is|it is) built in\b|\bbuilt into (?:the|our)\b",
    r"\bstandard (?:connectors?|integrations?)\b",
    r"\blet me (?:send you|put together|get you)\b",
    r"\b(?:we|i) can (?:share|connect you|introduce you|set up a)\b",
    r"\b(?:most|many|some|a lot of) (?:of our )?(?:customers|clients) (?:start|bring|use|see|go)\b",
    r"\bwe see (?:that|it|this) a lot\b",
    # A German vendor showing, offering and promising ("ich zeig euch jetzt die App", "da gibt's
    # eine Schnittstelle", "wir geben fünf Jahre Garantie", "ich überarbeite die Offerte").
    r"\b(?:ich )?(?:zeig|zeige) (?:ihnen|euch)\b",
    r"\bteile? (?:mal |kurz )?(?:meinen|den) bildschirm\b",
    r"\bgibt(?:'s| es) (?:eine|einen|ein) (?:schnittstelle|konnektor|standardkonnektor|modul|"
    r"vorlage|mustervorlage|option|paket)\b",
    r"\b(?:jahre?|monate) garantie\b",
    r"\b(?:ist|sind) (?:optional|standard|standardmäßig|im paket)\b",
    r"\b(?:mach|mache|schick|schicke|überarbeite|erstelle|schreib|schreibe) (?:ihnen|euch|dir) "
    r"(?:bis [\w ]+? )?(?:ein|das|die|unser|ein neues) (?:angebot|offerte)\b",
    r"\bviele (?:unserer kunden |kunden )?(?:fangen|starten|beginnen|nutzen|machen)\b",
    # Naming a price per unit of what is sold ("seventy nine a month", "35 Euro pro Display").
    rf"\b{_AMOUNT}\s+(?:(?:dollars?|euros?|bucks|pounds?|franken)\s+)?(?:a|per|pro|im|je) "
    r"(?:month|monat|year|jahr|user|nutzer|seat|licen[cs]e|lizenz|device|gerät|display|unit|"
    r"slice|postfach|mailbox|location|site|standort|studio|vehicle|fahrzeug|truck|bus|line)\b",
)
# What a seller asks: whether the other wants to buy, and what they would pay.
_SELLER_ASKS = (
    r"\b(?:are|were) you (?:still |really )?interested\b",
    r"\b(?:how much|what) (?:are|were|would|will) you (?:offer|like to (?:pay|offer|spend)|"
    r"thinking|willing|able|looking to (?:pay|spend))\b",
    r"\bdo you have any (?:other )?questions\b",
    r"\b(?:are|were) you (?:willing|ready|looking) to (?:buy|purchase|rent|take)\b",
    r"\bwhat(?:'s| is) your (?:price point|best offer|offer|budget|price range)\b",
    r"\bwhat did you have in mind\b",
    r"\bhow can i help\b",
    r"\bwork for you\b",
    r"\b(?:can|could|will|would) you (?:come (?:and |to )?)?pick (?:it|them) up\b",
    r"\b(?:are|will) you (?:paying|coming|picking)\b",
    r"\band you pick (?:it|them) up\b",
    r"\b(?:haben sie|hast du) (?:noch )?fragen\b",
    r"\b(?:interessiert|interessieren) (?:sie|dich)\b",
    r"\bwas (?:würden|wollen|können) sie (?:zahlen|ausgeben|bieten)\b",
)
# What a buyer says: what they need, that they are interested, and pushing back on the price.
_BUYER = (
    r"\bwe (?:need|are looking for|'re looking for|currently use|use|have been using|tried)\b",
    r"\bwe're (?:looking for|using|currently)\b",
    r"\bour (?:budget|current (?:system|tool|provider|vendor)|boss|manager|procurement)\b",
    r"\bi (?:need|am looking for|'m looking for)\b",
    r"\bi(?:'m| am)(?: very| really| definitely| still| quite)? interested\b",
    r"\b(?:too (?:much|expensive|high|steep|pricey)|a bit much)\b",
    r"\b(?:over|out of|above|beyond|outside) (?:my|our) (?:budget|price range|range|means)\b",
    r"\b(?:my|our) (?:budget|price range|max(?:imum)?)\b",
    r"\b(?:can't|cannot|couldn't) afford\b",
    r"\bi (?:can|could|would|will)(?: only)? (?:pay|afford|offer(?! you))\b",
    r"\b(?:willing|able) to pay\b",
    r"\b(?:can|could|would|will) you (?:go(?! up| higher)|come down|do|take|accept|consider|lower|"
    r"drop|knock|be willing)\b",
    r"\b(?:the )?lowest you\b",
    r"\b(?:still for sale|negotiable)\b",
    r"\bwe (?:really |actually |also |definitely |just |still )(?:need|want)\b",
    r"\bwe(?:'d| would) (?:want|need)\b",
    r"\bwe(?:'re| are) paying\b",
    r"\b(?:brauchen|benötigen|suchen|wollen) wir\b",
    r"\bich (?:bräucht|bräuchte|hätte gern|möchte gern)\b",
    r"\b(?:happig|ordentliche summe|viel geld)\b",
    r"\b(?:for us|für uns)\b",
    # A customer weighing the offer: competitors' quotes, budgets, must-haves.
    r"\b(?:quoted us|gave us a quote|came back with|(?:were|are|is) cheaper|cheaper (?:on|than))\b",
    r"\b(?:we budgeted|felt like a lot|hard requirement|must-have|not interested)\b",
    r"\b(?:has|have) to (?:be|come|go|work|run|stay)\b",
    r"\b(?:for me|für mich) (?:the|is|it's|ist|das)\b",
    r"\b(?:günstiger|die konkurrenz|ein anderes angebot|muss (?:das|es))\b",
    r"\b(?:would|are|were) you (?:be )?open to\b",
    r"\b(?:can|could|would|will) you negotiate\b",
    r"\b(?:are|were) you (?:still )?selling\b",
    r"\bwhat (?:are|were) you asking\b",
    r"\b(?:can|could) you tell me (?:more |something |a bit |a little )?about "
    r"(?:it|this|that|the)\b",
    r"\bhow long have you (?:owned|had)\b",
    r"\b(?:did|do) you (?:just |originally )?(?:buy|make|pay|purchase)\b",
    r"\bwhat did you (?:originally )?pay\b",
    r"\bdo you (?:still )?have the (?:title|receipt|box|manual|original)\b",
    r"\b(?:would|do) you happen to\b",
    r"\b(?:can|could|would|will) you deliver\b",
    r"\b(?:are|were) you willing to (?:go|come down|take|accept|drop|lower|negotiate|sell|let)\b",
    r"\b(?:come down to|let it go for|any way you could|come get it)\b",
    r"\bcould you (?:then )?do \$?\d",
    r"\b(?:drop|lower|reduce|bring down) the price\b",
    # Offering money, asking about the item, wanting to take it.
    r"\bi(?:'ll| will| can| could| would)(?: be willing to)?(?: only)? (?:pay|give you \$?\d|"
    r"go up to|come up to|spend)",
    r"\bwhat (?:condition|colou?r|size|year|model|brand) (?:is|are)\b",
    r"\b(?:will|does|would) (?:it|this|they) (?:work|fit)\b",
    r"\b(?:all i have is|i (?:only )?have \$|to spend)\b",
    r"\b(?:is|are) (?:it|this|that|they|these|the \w+) (?:still )?"
    r"(?:available|for sale|new|used)\b",
    r"\b(?:why are you selling|how old is|how long have you had|does it (?:have|come|work)|"
    r"is it in|are there any|any (?:damage|scratches|dents|stains|issues|problems))\b",
    r"\b(?:is there|are there|do you (?:give|offer|have)|can (?:we|i) get|could (?:we|i) get)"
    r"(?: any| a| some)? discounts?\b",
    r"\b(?:high|steep|expensive|much|a lot) for (?:me|us)\b",
    r"\bthe price is (?:a bit |too |kind of |a little )?(?:high|steep)\b",
    r"\bi(?:'ll| will| can| could)(?: come(?: and)?)? pick (?:it|them) up\b",
    r"\bi(?:'ll| will) take (?:it|them)\b",
    r"\bi(?:'d| would) (?:like|love) to (?:buy|purchase|get)\b",
    r"\binterested in (?:buying|purchasing|your)\b",
    r"\b(?:ich (?:zahle|biete|nehme (?:es|ihn|sie))|würden sie|nehmen sie auch|gibt es (?:einen )?"
    r"rabatt|geht (?:da|beim preis) noch (?:was|etwas)|über meinem budget)\b",
    r"\bist (?:es|er|sie|das) noch (?:da|zu haben|verfügbar)\b",
    r"\bwir (?:brauchen|benötigen|suchen|nutzen|verwenden|haben aktuell)\b",
    r"\bich (?:brauche|benötige|suche|interessiere mich)\b",
    r"\bunser(?:e|en)? (?:budget|chef|einkauf|aktuelles? (?:system|tool))\b",
    r"\b(?:zu teuer|zu viel|zu hoch|über unserem budget|mein budget)\b",
    r"\b(?:können|könnten|kannst|könntest) (?:sie|du) (?:da |noch |beim preis |mit dem preis )?"
    r"(?:runter|entgegen|nachlassen|etwas nachlassen)\b",
    r"\b(?:verhandelbar|noch zu haben|noch verfügbar)\b",
    # Weighing a price against what one hoped, paid or set aside.
    r"\b(?:more|less|higher|lower|cheaper|pricier) than (?:what )?(?:i|we)(?:'d| had| would)?"
    r"(?: have)? (?:hoped|expected|thought|budgeted|planned|wanted|paid|pay|set aside)\b",
    r"\b(?:seems?|seemed|sounds?|kinda|kind of|pretty|still|really) (?:crazy|pricey|steep)\b",
    r"\b(?:mehr|teurer|höher) als (?:gedacht|erwartet|geplant|bisher)\b",
    r"\b(?:ganz schön|ziemlich|recht) (?:teuer|happig|viel)\b",
)
_SELLER_RE = [re.compile(p, re.IGNORECASE) for p in _SELLER]
_SELLER_ASKS_RE = [re.compile(p, re.IGNORECASE) for p in _SELLER_ASKS]
_BUYER_RE = [re.compile(p, re.IGNORECASE) for p in _BUYER]
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_YOU = re.compile(
    r"\b(?:you|your|yours|sie|ihr|ihre|ihren|ihrem|ihnen|du|dein|deine|deinen|dir|dich|euch|euer|"
    r"eure|euren|eurem)\b",
    re.I,
)
# A question about the thing on offer or the deal ("do you have the title?"), which buyers ask,
# rather than about the person asked ("how does your team do it today?"), which reps ask.
_THING = re.compile(
    r"\b(?:it|its|it's|this|these|they|them|price|cost|costs|offer|deal|cash|pick|deliver|"
    r"es|das|dies|preis|kosten|angebot)\b|[$€£\d]",
    re.I,
)
_GREETING = re.compile(
    r"\bhow (?:are you|is it going|have you been|was your)\b|\bwie geht(?:'s| es)\b", re.I
)

# How people introduce their own side: "Tobias is with me", "I've got Kwame with me", "Vikram leads
# our implementation", "on our side: Beth, Raúl and Dennis", "der David von uns", "die Julia ist
# auch dabei". {n} stands for a speaker's name; a name after one of _OUR_SIDE in the same sentence
# counts too. Names come from the speaker labels (an imported transcript's), so calls whose
# speakers are SPEAKER_1... have no introductions.
_INTRODUCES = (
    r"\b{n}(?:'s| is| are)? (?:also |here |joining |on the call )?(?:with me|joining me)\b",
    r"\b(?:i've got|i have|i brought|i've also got)(?: also)? {n}\b[^.?!]{{0,30}}?"
    r"\b(?:with me|along)\b",
    r"\b(?:joining me|with me)(?: today| here)? (?:is|are) {n}\b",
    r"\bi(?:'m| am) joined(?: today)? by {n}\b",
    r"\b{n}(?:'s| is) (?:also )?here(?: too| as well)\b",
    r"\b{n},? (?:from|on|of|in) (?:our|my) (?:\w+ )?(?:side|team|end|company|department)\b",
    r"\b{n}(?:'s| is| will| will be|'ll|'ll be)? (?:also )?"
    r"(?:leads?|runs?|heads?|manages?|handles?|owns?|looks after|is|'s) our\b",
    r"\b{n}(?: will|'ll)? (?:also )?(?:leads?|runs?|handles?|owns?) your\b",
    r"\b{n}(?:'s| is| will be|'ll be) (?:also )?your (?:\w+ )?"
    r"(?:manager|executive|lead|contact|engineer|consultant|specialist)\b",
    r"\b(?:der |die )?{n} (?:von uns|aus unserem team|von unserer seite|bei uns)\b",
    r"\b{n} (?:ist|sind) (?:heute |auch |mit |ebenfalls )*dabei\b",
    r"\b(?:mit dabei|dabei) (?:ist|sind|hab ich|habe ich) (?:heute |auch )*(?:der |die )?{n}\b",
    r"\b(?:ich hab|ich habe) (?:heute |auch )*(?:den |die )?{n} (?:mit )?dabei\b",
    r"\b{n} (?:ist|leitet|betreut|macht|verantwortet) "
    r"(?:bei uns|unser|unsere|unseren|euer|eure|euren)\b",
)
_OUR_SIDE = re.compile(
    r"\b(?:on|from) our (?:side|end)\b|\b(?:von|auf) unserer seite\b|\bbei uns (?:sind|ist)\b",
    re.I,
)
# Speaker labels that are no name, names that are also words the patterns hold ("I will run
# your..."), and titles before a name.
_NOT_A_NAME = {
    *("speaker", "sprecher", "rep", "customer", "kunde", "unknown", "guest", "gast"),
    *("will", "may", "ist", "sind"),
}
_TITLES = {"herr", "frau", "mr", "mrs", "ms", "dr", "prof"}

FEATURES = (
    "opener",
    "seller phrases per utterance",
    "buyer phrases per utterance",
    "share of the questions about the other person",
    "you/your/Sie/du in statements per 10 words",
)
# In the order of FEATURES: a logistic regression on the project's calls (see the docstring).
_WEIGHTS = (0.25, 2.93, -3.61, 2.97, 4.25)
# More than two speakers, and the chosen rep says fewer seller phrases per utterance than this:
# a meeting rather than a sale, so no rep is asserted (see the module docstring).
MIN_SELLER_RATE = 0.1
# The confidence of a meeting's guessed rep: below ROLE_CONFIDENCE_THRESHOLD, so "roles uncertain".
UNSURE_CONFIDENCE = 0.5
# The most people on the vendor's side that ``vendor_side`` considers, drawn from this many
# speakers, those the words rank highest (a large meeting has too many groups to try them all).
MAX_SIDE = 3
SIDE_CANDIDATES = 8
# The confidence when that side is not the one best speaker by the words alone: below
# ROLE_CONFIDENCE_THRESHOLD, so "roles uncertain". Such a side was exactly right in 84 % of the
# multi-party calls it was chosen on, in 69 % of those never tuned on (held_out/), and in 71 %
# of the single-rep calls of three or more speakers where it differed (14 of 334), measured
# before introductions counted.
SIDE_CONFIDENCE = 0.6
# Scales the margin between the best and the second-best score into a confidence; fitted with
# the weights (scripts/eval_roles.py --fit).
_MARGIN_SCALE = 0.5
# The extractor's reading of who states needs (``assistant.extract.need_talk``) enters the score:
# minus NEED_WEIGHT times the speaker's need talk less the other speakers' mean. Chosen on the
# written calls the extractors of the time never saw (calls_en_e, calls_en_g, calls_de_g); see the
# module docstring.
NEED_WEIGHT = 4.0


def _hits(patterns: list[re.Pattern[str]], text: str) -> int:
    return sum(len(p.findall(text)) for p in patterns)


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().endswith("?")


def _seller_hits(sentence: str) -> int:
    # "Is it in good condition?" is a buyer's question: seller phrases count in statements, and
    # in questions only what a seller asks ("are you interested?").
    return _hits(_SELLER_ASKS_RE if _is_question(sentence) else _SELLER_RE, sentence)


def _about_the_other(sentence: str) -> bool:
    return (
        _is_question(sentence)
        and _YOU.search(sentence) is not None
        and not _THING.search(sentence)
        and not _GREETING.search(sentence)
        and not _hits(_BUYER_RE, sentence)
        and not _hits(_SELLER_ASKS_RE, sentence)
    )


def _raw_features(own: list[str], opener: bool, questions: int) -> list[float]:
    sentences = [s for t in own for s in _sentences(t)]
    statements = [s for s in sentences if not _is_question(s) and not _hits(_BUYER_RE, s)]
    utterances = max(1, len(own))
    words = max(1, sum(len(t.split()) for t in own))
    return [
        1.0 if opener else 0.0,
        sum(_seller_hits(s) for s in sentences) / utterances,
        sum(_hits(_BUYER_RE, t) for t in own) / utterances,
        sum(_about_the_other(s) for s in sentences) / max(1, questions),
        sum(len(_YOU.findall(s)) for s in statements) / words * 10,
    ]


def _opener(segments: Sequence[Segment], speakers: Sequence[str]) -> str | None:
    return next(
        (s.speaker for s in segments if s.speaker in speakers and len(s.text.split()) >= 3), None
    )


def _raw_by_speaker(segments: Sequence[Segment], speakers: Sequence[str]) -> dict[str, list[float]]:
    """{speaker: FEATURES of what they said}, not yet relative to the others."""
    opener = _opener(segments, speakers)
    said = {sp: [s.text for s in segments if s.speaker == sp] for sp in speakers}
    questions = sum(
        _is_question(s) for texts in said.values() for t in texts for s in _sentences(t)
    )
    return {sp: _raw_features(said[sp], sp == opener, questions) for sp in speakers}


def role_features(segments: Sequence[Segment], speakers: Sequence[str]) -> dict[str, list[float]]:
    """{speaker: FEATURES of what they said, each minus the mean of the other speakers}."""
    return _relative(_raw_by_speaker(segments, speakers), speakers)


def _relative(raw: dict[str, list[float]], speakers: Sequence[str]) -> dict[str, list[float]]:
    relative = {}
    for sp in speakers:
        others = [raw[o] for o in speakers if o != sp] or [[0.0] * len(FEATURES)]
        relative[sp] = [
            mine - sum(other[i] for other in others) / len(others) for i, mine in enumerate(raw[sp])
        ]
    return relative


def seller_rate(segments: Sequence[Segment], speaker: str) -> float:
    """Seller phrases per utterance of ``speaker``: the evidence that someone here is selling."""
    own = [g.text for g in segments if g.speaker == speaker]
    return sum(_seller_hits(s) for t in own for s in _sentences(t)) / max(1, len(own))


def heuristic_scores(segments: Sequence[Segment], speakers: Sequence[str]) -> dict[str, float]:
    """{speaker: score}: the weighted FEATURES; the highest is the rep."""
    return _scores(role_features(segments, speakers))


def _scores(features: dict[str, list[float]]) -> dict[str, float]:
    return {s: sum(w * x for w, x in zip(_WEIGHTS, f, strict=True)) for s, f in features.items()}


# The FEATURES that are evidence of who sells: seller phrases, buyer phrases, questions about
# the other person (discovery). Without any of them, only style cues are left.
_SALES_TALK = (1, 2, 3)


def _confidence(margin: float) -> float:
    return round(1 / (1 + math.exp(-_MARGIN_SCALE * margin)), 3)


def heuristic_roles(
    segments: Sequence[Segment],
    speakers: Sequence[str],
    side_rule: SideRule | None = None,
    need_talk: Mapping[str, float] | None = None,
) -> dict[str, tuple[Role, float]]:
    """{speaker: (role, confidence)} from the words, and from ``need_talk`` when given (the
    extractor's mean customer-need probability of each speaker's utterances); see the module
    docstring."""
    if not speakers:
        return {}
    if len(speakers) == 1:
        return {speakers[0]: ("rep", 0.5)}
    raw = _raw_by_speaker(segments, speakers)
    score = _scores(_relative(raw, speakers))
    if need_talk:
        score = _with_need_talk(score, need_talk)
    opener = _opener(segments, speakers)
    order = list(speakers)
    ranked = sorted(order, key=lambda s: (-score[s], s != opener, order.index(s)))
    reps = {ranked[0]}
    confidence = _capped(_confidence(score[ranked[0]] - score[ranked[1]]), raw, reps)
    if len(speakers) > 2:
        # When the words alone are sure of the rep, the rep stays on the vendor's side.
        keep = ranked[0] if confidence >= ROLE_CONFIDENCE_THRESHOLD else None
        side = vendor_side(segments, ranked, raw, keep, side_rule or SideRule())
        if side != reps:
            # Who answers whom named another rep, or more than one: often right, never sure.
            reps, confidence = side, _capped(SIDE_CONFIDENCE, raw, side)
    return {s: ("rep" if s in reps else "customer", confidence) for s in speakers}


def _with_need_talk(score: dict[str, float], need_talk: Mapping[str, float]) -> dict[str, float]:
    """Scores less NEED_WEIGHT times each speaker's need talk relative to the others' mean."""
    out = {}
    for s, value in score.items():
        others = [need_talk.get(o, 0.0) for o in score if o != s]
        mean = sum(others) / len(others) if others else 0.0
        out[s] = value - NEED_WEIGHT * (need_talk.get(s, 0.0) - mean)
    return out


def _capped(confidence: float, raw: dict[str, list[float]], reps: set[str]) -> float:
    if not any(f[i] for f in raw.values() for i in _SALES_TALK):
        # Nobody says anything that sells or buys (small talk, a read text): the style cues
        # alone named a rep with confidence 0.9 and more on such talk, either way round.
        return min(confidence, UNSURE_CONFIDENCE)
    if len(raw) > 2 and max(raw[s][1] for s in reps) < MIN_SELLER_RATE:
        # Three or more people and nobody selling: a meeting. The ranking is a guess at best.
        return min(confidence, UNSURE_CONFIDENCE)
    return confidence


def _first_names(speakers: Sequence[str]) -> dict[str, str]:
    """{name, lower case: speaker}: the first word of each label (after a title) that no other
    label starts with."""
    names: dict[str, list[str]] = {}
    for sp in speakers:
        words = [w for w in re.split(r"[\s_.\-]+", sp.strip().lower()) if w]
        if len(words) > 1 and words[0] in _TITLES:  # "Herr König" is called König
            words = words[1:]
        first = words[0] if words else ""
        if first.isalpha() and len(first) > 1 and first not in _NOT_A_NAME:
            names.setdefault(first, []).append(sp)
    return {n: sps[0] for n, sps in names.items() if len(sps) == 1}


def introductions(segments: Sequence[Segment], speakers: Sequence[str]) -> set[frozenset[str]]:
    """Pairs of speakers on one side: one introduced the other as their own (``_INTRODUCES``)."""
    names = _first_names(speakers)
    if len(names) < 2:
        return set()
    n = "(" + "|".join(re.escape(name) for name in names) + ")"
    patterns = [re.compile(p.format(n=n), re.I) for p in _INTRODUCES]
    # "on our side: Beth runs quality, Raúl is plant IT, and Dennis...": the first name right after
    # the phrase, then every name right after a comma or "and" in the rest of the sentence.
    first = re.compile(
        rf"^[:,]?\s*(?:(?:we've got|we have|there's|there is|it's|sind|ist|haben wir)\s+)?"
        rf"(?:der |die )?{n}\b",
        re.I,
    )
    listed = re.compile(rf"(?:,|\band|\bund)\s+(?:also\s+)?(?:der |die )?{n}\b", re.I)
    pairs = set()
    for segment in segments:
        who = segment.speaker
        if who is None or who not in speakers:
            continue
        for sentence in _sentences(segment.text):
            found = [m.group(1) for p in patterns for m in p.finditer(sentence)]
            ours = _OUR_SIDE.search(sentence)
            if ours is not None and (head := first.match(sentence[ours.end() :])) is not None:
                found += [head.group(1), *listed.findall(sentence[ours.end() + head.end() :])]
            for name in found:
                other = names[name.lower()]
                if other != who:
                    pairs.add(frozenset((who, other)))
    return pairs


def _changes(segments: Sequence[Segment], speakers: Sequence[str]) -> Counter[frozenset[str]]:
    """How often the word passes between each two speakers."""
    said = [s.speaker for s in segments if s.speaker is not None and s.speaker in speakers]
    return Counter(frozenset(pair) for pair in itertools.pairwise(said) if pair[0] != pair[1])


@dataclass(frozen=True)
class SideRule:
    """How ``vendor_side`` values a group; the defaults were chosen on the written multi-party
    calls calls_en_g and calls_de_g with the single-rep calls of the other files
    (``scripts/eval_roles.py --side-grid``)."""

    penalty: float = 0.06  # for each person beyond the first, in shares of speaker changes
    text_weight: float = 0.02  # for each point of the group's mean heuristic score
    min_score: float = 0.25  # that each of several people must score against the rest
    split_link: float = 0.5  # for each two people introduced as one side and split by the group
    joint_link: float = 0.1  # for each two people introduced as one side, both in the group


def vendor_side(
    segments: Sequence[Segment],
    speakers: Sequence[str],
    raw: dict[str, list[float]],
    keep: str | None,
    rule: SideRule,
) -> set[str]:
    """The vendor's people in a call of three or more: the side the others answer.

    Each group of up to ``MAX_SIDE`` of the first ``SIDE_CANDIDATES`` speakers (never everyone;
    always ``keep`` when given) is valued at the share of the speaker changes that cross between
    it and the rest, less ``rule.penalty`` for each person beyond the first, plus
    ``rule.text_weight`` times its people's mean heuristic score against the rest; in a group of
    two or more, everyone must score at least ``rule.min_score`` against the rest (their words
    are nobody's who buys).
    ``raw`` is ``_raw_by_speaker``; ``speakers`` best first by the words, and a tie goes to the
    group whose people come first.
    """
    changes = _changes(segments, speakers)
    links = introductions(segments, speakers)
    total = max(1, sum(changes.values()))
    best: tuple[float, set[str]] = (-math.inf, {keep or speakers[0]})
    for size in range(1, min(MAX_SIDE, len(speakers) - 1) + 1):
        for group in itertools.combinations(speakers[:SIDE_CANDIDATES], size):
            side = set(group)
            if keep is not None and keep not in side:
                continue
            rest = [s for s in speakers if s not in side]
            text = [_scores(_relative(raw, [s, *rest]))[s] for s in group]
            joined = [pair for pair in links if pair <= side]
            # Someone introduced by a groupmate may say nothing that sells.
            vouched = [any(s in pair for pair in joined) for s in group]
            if size > 1 and any(
                t < rule.min_score and not v for t, v in zip(text, vouched, strict=True)
            ):
                continue
            crossing = sum(n for pair, n in changes.items() if len(pair & side) == 1) / total
            split = sum(len(pair & side) == 1 for pair in links)
            value = (
                crossing
                - rule.penalty * (size - 1)
                + rule.text_weight * sum(text) / size
                - rule.split_link * split
                + rule.joint_link * len(joined)
            )
            if value > best[0]:
                best = (value, side)
    return best[1]


def assign_roles(
    segments: Sequence[Segment],
    diarization: Diarization,
    profiles: Sequence[VoiceProfile],
    options: DiarizeOptions | None = None,
) -> dict[str, Speaker]:
    """{label in the segments: final ``Speaker``}; ``apply_roles`` puts them on the segments.

    An enrolled rep's ``Speaker.id`` is their name; other speakers keep their label.
    """
    options = options or DiarizeOptions()
    ids = _speaker_ids(segments, diarization)
    talk: dict[str, float] = {}
    for turn in diarization.turns:
        talk[turn.speaker] = talk.get(turn.speaker, 0.0) + turn.end_s - turn.start_s
    speakers = {
        sid: Speaker(
            id=sid,
            channel=diarization.channels.get(sid),
            role_source="heuristic",
            **_voice(diarization.embeddings.get(sid), talk.get(sid, 0.0)),
        )
        for sid in ids
    }
    matches = match_profiles(diarization.embeddings, profiles, options.profile_threshold)
    if diarization.method == "none":  # an imported transcript: speakers have names already
        by_slug = {slug(p.name): p for p in profiles}
        for sid in ids:
            if (profile := by_slug.get(slug(sid))) is not None:
                matches[sid] = (profile, 1.0)
    for sid, (profile, similarity) in matches.items():
        speakers[sid] = speakers[sid].model_copy(
            update={"name": profile.name, "profile_similarity": similarity}
        )

    if diarization.method == "stereo" and options.rep_channel is not None:
        for sid, speaker in speakers.items():
            is_rep = speaker.channel == options.rep_channel
            speakers[sid] = _with_role(speaker, "rep" if is_rep else "customer", "channel", 1.0)
    elif diarization.method == "none":
        _transcript_roles(segments, speakers, matches)
    elif matches:
        best = max(similarity for _, similarity in matches.values())
        for sid, speaker in speakers.items():
            matched = sid in matches
            role: Role = "rep" if matched else "customer"
            confidence = matches[sid][1] if matched else best
            speakers[sid] = _with_role(speaker, role, "profile", confidence)
    else:
        _heuristic(segments, speakers, list(speakers))
    taken = {sid for sid in ids if sid not in matches}
    for sid in matches:
        name = speakers[sid].name or sid
        # An enrolled rep is called by name, unless that name is another speaker's label.
        final = name if name not in taken else f"{name} ({sid})"
        taken.add(final)
        speakers[sid] = speakers[sid].model_copy(update={"id": final})
    return speakers


def reassess_roles(
    segments: Sequence[Segment],
    speakers: Sequence[Speaker],
    read_need_talk: Callable[[], Mapping[str, float]],
) -> tuple[list[Segment], list[Speaker]]:
    """The heuristic's roles decided again with the extractor's need talk (``read_need_talk``,
    by the speakers' final ids; read only when two or more speakers' roles are the heuristic's);
    roles from anything else (a channel, a voice, the transcript) stay."""
    among = [s.id for s in speakers if s.role_source == "heuristic"]
    if len(among) < 2:
        return list(segments), list(speakers)
    by_id = {s.id: s for s in speakers}
    talk = read_need_talk()
    for sid, (role, confidence) in heuristic_roles(segments, among, need_talk=talk).items():
        by_id[sid] = _with_role(by_id[sid], role, "heuristic", confidence)
    return apply_roles(segments, by_id), list(by_id.values())


def roles_to_read(segments: Sequence[Segment], speakers: Sequence[Speaker]) -> list[Segment]:
    """The segments as the extractor reads them: as they are, except in a call whose roles are
    all the heuristic's guess at best (confidence at most ``UNSURE_CONFIDENCE``): one voice, a
    meeting where nobody sells, talk where nobody sells or buys. Such a call is read with the
    roles withheld, as a transcript without them is: with one voice every line would read as
    the rep's, and the model finds no need or objection in a rep's words (written calls given
    one voice, macro-F1 with every line the rep's / with the roles withheld: English 0.767 /
    0.871, German 0.622 / 0.847); in a meeting, the people the guess calls customers would state
    customer needs and objections (see the module docstring)."""
    if not speakers or any(
        s.role_source != "heuristic" or s.role_confidence > UNSURE_CONFIDENCE for s in speakers
    ):
        return list(segments)
    return [s.model_copy(update={"role": None}) for s in segments]


def _voice(embedding: np.ndarray | None, talk_s: float) -> dict[str, object]:
    """A speaker's voice as the report keeps it (rounded), with the seconds behind it."""
    if embedding is None:
        return {}
    vector = embedding / max(float(np.linalg.norm(embedding)), 1e-12)
    return {"voice": [round(float(x), 5) for x in vector], "voice_s": round(talk_s, 1)}


def _with_role(speaker: Speaker, role: Role, source: RoleSource, confidence: float) -> Speaker:
    # Only the text heuristic guesses; its speakers share one confidence, that of its rep.
    uncertain = source == "heuristic" and confidence < ROLE_CONFIDENCE_THRESHOLD
    return speaker.model_copy(
        update={
            "role": role,
            "role_source": source,
            "role_confidence": confidence,
            "role_uncertain": uncertain,
        }
    )


def _heuristic(segments: Sequence[Segment], speakers: dict[str, Speaker], among: list[str]) -> None:
    for sid, (role, confidence) in heuristic_roles(segments, among).items():
        speakers[sid] = _with_role(speakers[sid], role, "heuristic", confidence)


def _given_roles(segments: Sequence[Segment]) -> dict[str, Role]:
    """{speaker: role} that an imported transcript wrote on its turns (the most frequent one)."""
    counts: dict[str, Counter[Role]] = {}
    for segment in segments:
        if segment.speaker is not None and segment.role is not None:
            counts.setdefault(segment.speaker, Counter())[segment.role] += 1
    return {sid: count.most_common(1)[0][0] for sid, count in counts.items()}


def _transcript_roles(
    segments: Sequence[Segment],
    speakers: dict[str, Speaker],
    matches: dict[str, tuple[VoiceProfile, float]],
) -> None:
    """Roles of an imported transcript: written roles are final, a speaker named like an enrolled
    rep is the rep, and only the speakers left over are decided here."""
    given = _given_roles(segments)
    for sid in speakers:
        if sid in given:
            speakers[sid] = _with_role(speakers[sid], given[sid], "transcript", 1.0)
        elif sid in matches:
            speakers[sid] = _with_role(speakers[sid], "rep", "transcript", 1.0)
    unknown = [sid for sid, s in speakers.items() if s.role is None]
    if not unknown:
        return
    if any(s.role == "rep" for s in speakers.values()):
        # The rep is known: everyone else is a customer, as with an enrolled voice.
        for sid in unknown:
            speakers[sid] = _with_role(speakers[sid], "customer", "transcript", 1.0)
        return
    _heuristic(segments, speakers, unknown)


def apply_roles(segments: Sequence[Segment], speakers: dict[str, Speaker]) -> list[Segment]:
    """Segments and their words with final speaker ids and roles."""
    out = []
    for segment in segments:
        who = speakers.get(segment.speaker) if segment.speaker is not None else None
        words = [
            w.model_copy(update={"speaker": speakers[w.speaker].id})
            if w.speaker is not None and w.speaker in speakers
            else w
            for w in segment.words
        ]
        update: dict[str, object] = {"words": words}
        if who is not None:
            # A role the transcript wrote on this very turn is final, even against its speaker's.
            given = segment.role if who.role_source == "transcript" else None
            update |= {"speaker": who.id, "role": given or who.role}
        out.append(segment.model_copy(update=update))
    return out


def rename_turns(turns: Sequence[Turn], speakers: dict[str, Speaker]) -> list[Turn]:
    """Turns with final speaker ids (an enrolled rep's label becomes their name)."""
    return [
        replace(t, speaker=speakers[t.speaker].id) if t.speaker in speakers else t for t in turns
    ]


def _speaker_ids(segments: Sequence[Segment], diarization: Diarization) -> list[str]:
    ids = list(diarization.speakers)
    for segment in segments:
        if segment.speaker is not None and segment.speaker not in ids:
            ids.append(segment.speaker)
    return ids
