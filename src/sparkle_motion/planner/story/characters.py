"""The characters' words the pictures must be able to draw (the storyboard tests each one).

Kept as the planner's promise to the storyboard: every word here resolves to a picture
there. The lexicon (lexicon.py) knows more characters; the storyboard reads any English
noun, and this set grows only together with the storyboard's own table.
"""

from __future__ import annotations

# Who can be met: people, animals, creatures, and what stories personify.
ANIMATE = frozenset(
    """
person man woman boy girl child kid baby friend friends keeper king queen prince princess
knight wizard witch fairy elf giant troll dwarf ghost ghosts monster robot robots android
alien aliens astronaut pilot sailor pirate captain fisherman farmer baker chef cook
doctor nurse teacher student detective musician painter artist scientist inventor
explorer traveller traveler hunter soldier soldiers thief dancer singer clown grandmother
grandfather grandma grandpa mother father mom dad sister brother family neighbour
neighbor stranger girlfriend boyfriend villain hero heroine mermaid yeti vampire zombie
dragon dragons unicorn phoenix griffin whale dolphin shark octopus fish crab turtle seal
penguin seagull otter fox wolf bear cub deer owl rabbit hare mouse mice rat squirrel
hedgehog badger raccoon cat kitten dog puppy horse pony donkey cow pig sheep goat chicken
hen duck goose bird birds eagle crow parrot snail sloth frog toad bee butterfly ant
spider lion tiger elephant giraffe monkey gorilla panda kangaroo camel snake lizard
dinosaur squid jellyfish seahorse moon sun wind star stars cloud tree scarecrow snowman
""".split()
)
