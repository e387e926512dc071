"""Chinese sentences for each kind of story, beat by beat, with Chinese punctuation.

The idea's clause comes back whole ({主}{地}{vp}: 两只熊猫在竹林里比赛), so its words, its
measure words and its counts stay as the idea wrote them.
"""

from __future__ import annotations

from sparkle_motion.planner.story.tell_en import choose

STORIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "quest": (
        ("{处}住着{一主}，{它}每天都觉得有点孤单。",),
        ("有一天，{主}下定决心出发，{地}{vp}。",),
        ("{主}走过了{处}的每一个角落，一边走一边{verb}。",),
        ("天黑了，{主}还是没有找到{obj}，心里很难过。",),
        ("就在这时，远处亮起了一点光，{主}鼓起勇气走了过去。",),
        ("{主}终于找到了{obj}，{处}再也不冷清了。",),
    ),
    "waiting": (
        ("{一主}今天要去一个很远的地方。",),
        ("放学后，{主}{地}{vp}。",),
        ("{主}等了一会儿又一会儿，{obj}还是没有来。",),
        ("雨越下越大，{主}又冷又累，心里有点着急。",),
        ("忽然，远处亮起了两盏灯，{主}踮起脚尖张望。",),
        ("{obj}终于来了，{主}开开心心地上了车，等待结束了。",),
    ),
    "learning": (
        ("从前，有{一主}，{它}一直很想{skill}。",),
        ("有一天，{主}下定决心开始{vp}。",),
        ("{主}认真地开始练习，可是第一次的结果一点也不好。",),
        ("有人笑话{主}，{主}难过得差点放弃。",),
        ("可是{主}每天都坚持练习，一天比一天进步。",),
        ("终于，{主}学会了{skill}，{它}高兴极了。",),
    ),
    "rivalry": (
        ("{处}住着{一主}，{它}谁也不服谁。",),
        ("这一天，{主}{地}{vp}。",),
        ("{主}你追我赶，谁都不肯认输。",),
        ("比着比着，{主}都累得走不动了。",),
        ("{主}停下来看着对方，忍不住笑了。",),
        ("从那以后，{主}成了好朋友，还常常一起{vp}。",),
    ),
    "friendship": (
        ("{一主}每天{地}忙碌，常常觉得孤单。",),
        ("有一天，{主}{地}{vp}。",),
        ("一开始，{主}和{他者}都有点害怕对方。",),
        ("后来，风浪越来越大，{主}和{他者}都需要帮助。",),
        ("{主}和{他者}互相帮助，一起度过了难关。",),
        ("从那天起，{主}和{他者}成了最好的朋友。",),
    ),
    "story": (
        ("从前，有{一主}。",),
        ("有一天，{主}{地}{vp}。",),
        ("这件事并不容易，可是{主}没有放弃。",),
        ("后来，麻烦来了，{主}有点害怕。",),
        ("{主}想了很久，终于想出了办法。",),
        ("最后，一切都好了起来，{主}笑了。",),
    ),
    "explainer": (
        (
            "这部短片讲的是{主}是怎样{vp}的。它是离线规划的，没有可以核对的事实，所以只用一般的话介绍各个部分。",
        ),
        ("第一部分：{vp}的时候，都有谁参与。",),
        ("第二部分：{主}{vp}之前需要准备什么。",),
        ("第三部分：从开始到结果，{主}一步一步是怎样做的。",),
        ("第四部分：{vp}的结果是什么，为什么它对{主}很重要。",),
        ("这就是{主}{vp}的大致过程。具体的细节，需要真正的模型或者一本好书来补充。",),
    ),
}
TITLES = ("开始", "那一天", "一步一步", "麻烦来了", "转机", "结局")
EXPLAINER_TITLES = ("简介", "第一部分", "第二部分", "第三部分", "第四部分", "回顾")


def sentences(kind: str, slots: dict[str, str], beat: int, pick: int) -> str:
    text = choose(STORIES.get(kind, STORIES["story"])[beat], slots, pick)
    return text or choose(STORIES["story"][beat], slots, pick)


def title(kind: str, beat: int, slots: dict[str, str]) -> str:
    return (EXPLAINER_TITLES if kind == "explainer" else TITLES)[beat]


def movie_title(idea) -> str:
    s = idea.slots
    if idea.kind == "explainer":
        return s["topic"]
    return f"{s['主']}和{s['他者']}" if s.get("他者") else s["一主"] + s.get("地", "")
