"""Spanish sentences for each kind of story, beat by beat, in the present tense.

The idea's own verb phrase ({vp}, as written) carries its event; template verbs agree with
the subject through slots ({tiene}: tiene/tienen) and adjectives through others ({solo}).
"""

from __future__ import annotations

import re

from sparkle_motion.planner.story.tell_en import choose, fill

STORIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "friendship": (
        ("{Un} {vive} en un pueblo pequeño y {sueña} con una gran aventura.",),
        ("Un día, {el} {vp}.",),
        ("Al principio, {el} y {otro} se miran con miedo, sin saber qué hacer.",),
        ("Entonces llega una tormenta, y {el} y {otro} se necesitan el uno al otro.",),
        ("{El} y {otro} se ayudan y encuentran juntos el camino a casa.",),
        ("Desde ese día, {el} y {otro} son los mejores amigos.",),
    ),
    "teaching": (
        ("{Un} {ama} {skill} más que nada en el mundo.",),
        ("Un domingo, {el} {vp}.",),
        ("{El} {tiene} paciencia para enseñar cada paso, despacio y con cariño.",),
        ("Pero un día todo sale mal, y {otro} quiere rendirse.",),
        ("{El} sonríe y dice: «Otra vez, despacio.»",),
        ("Al final, {otro} también sabe {skill}, y {el} {está} {orgulloso}.",),
    ),
    "making": (
        ("{Un} {tiene} un plan muy grande: {inf} {obj}.",),
        ("Una mañana, {el} {vp}, pieza por pieza.",),
        ("Día tras día, {el} {trabaja} en {obj_the} y {aprende} de cada error.",),
        ("Una noche, {obj_the} casi se rompe, y {el} {está} a punto de rendirse.",),
        ("{El} lo {intenta} otra vez, y esta vez {obj_the} se mantiene firme.",),
        ("Por fin {obj_the} está {listo}, y todo el mundo viene a verlo.",),
    ),
    "rivalry": (
        ("{Un} y {otro_un} nunca están de acuerdo en nada.",),
        ("Un día, {el} y {otro} deciden quién puede ganar una carrera.",),
        ("{Otro} corre rápido y se ríe; {el} {sigue} despacio, paso a paso.",),
        ("A mitad del camino, {otro} se cansa y se duerme bajo un árbol.",),
        ("{El} no se detiene ni un momento y {mira} siempre hacia la meta.",),
        ("Al final, {el} {vp}, y {otro} aprende a respetar a su rival.",),
    ),
    "loss": (
        ("{Un} {ama} {obj} más que nada en el mundo.",),
        ("Una noche, {el} {vp}.",),
        ("{El} {busca} por todas partes, pero {obj} no aparece.",),
        ("Sin {obj}, nada es igual, y {el} se {siente} {solo} y triste.",),
        ("Entonces {el} {descubre} que no lo ha perdido todo.",),
        ("{El} nunca olvida {obj}, pero aprende a vivir sin {lo} y vuelve a sonreír.",),
    ),
    "story": (
        ("{Un} {vive} en una casa pequeña y {sueña} con un día diferente.",),
        ("Un día, {el} {vp}.",),
        ("No es fácil, pero {el} {sigue} adelante.",),
        ("Entonces algo sale mal, y {el} se {siente} {solo}.",),
        ("{El} {busca} una salida y, por fin, la encuentra.",),
        ("Al final, todo sale bien, y {el} {vuelve} a casa con una sonrisa.",),
    ),
}
STORIES["quest"] = STORIES["story"]
TITLES = ("El comienzo", "El gran día", "Paso a paso", "Problemas", "El giro", "El final")


def contract(text: str) -> str:
    """Spanish contracts de + el and a + el: "la historia del pescador", "al niño"."""
    return re.sub(r"\b([dD]e|[aA]) el\b", r"\1l", text)


def sentences(kind: str, slots: dict[str, str], beat: int, pick: int) -> str:
    slots = {**slots, "vuelve": "vuelven" if slots.get("plural") else "vuelve"}
    text = choose(STORIES.get(kind, STORIES["story"])[beat], slots, pick)
    return contract(text or choose(STORIES["story"][beat], slots, pick))


def title(kind: str, beat: int, slots: dict[str, str]) -> str:
    return TITLES[beat]


def movie_title(idea) -> str:
    s = idea.slots
    text = f"{s['el']} y {s['otro']}" if s.get("otro") else s["el"]
    return fill("{El}", {"el": text})
