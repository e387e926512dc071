"""The bilingual lexicon: one concept, its English, Spanish and Chinese nouns.

Image prompts are always English (the image models and the storyboard read English), while
narration speaks the idea's language. So every noun the planner understands in an idea is a
concept here: its English noun for the pictures, its Spanish noun with gender (for articles
and agreement) and its Chinese word with measure word (一只小猫, 一条鲸鱼). Tags say what the
concept is in a story: a person, an animal, a thing, a place, a trouble of weather.

One line per concept: ``key | english | spanish:gender | chinese:measure | tags``; Chinese
synonyms after a comma (the first is the one written). Tags: p person, a animal, c creature
(robots, ghosts: characters that are neither), t thing, l place, w weather or disaster,
f/m the pronoun an English story gives it (her/his), x abstract (in the story, not in a
picture), u uncountable ("bread", not "a bread").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

# fmt: off
_TABLE = """
person|person|persona:f|人:个|p
man|man|hombre:m|男人:个|pm
woman|woman|mujer:f|女人,妇人:个|pf
old_woman|old woman|anciana:f|老奶奶,老妇人:位|pf
old_man|old man|anciano:m|老爷爷,老人:位|pm
boy|boy|niño:m|男孩,小男孩:个|pm
girl|girl|niña:f|女孩,小女孩,小姑娘:个|pf
child|child|niño:m|孩子,小孩:个|p
kid|kid|chico:m|孩子们,孩子:个|p
baby|baby|bebé:m|宝宝,婴儿:个|p
friend|friend|amigo:m|朋友:个|p
brother|brother|hermano:m|兄弟,哥哥,弟弟:个|pm
sister|sister|hermana:f|姐妹,姐姐,妹妹:个|pf
mother|mother|madre:f|妈妈,母亲:位|pf
father|father|padre:m|爸爸,父亲:位|pm
grandmother|grandmother|abuela:f|奶奶,外婆,祖母:位|pf
grandfather|grandfather|abuelo:m|爷爷,外公,祖父:位|pm
granddaughter|girl|nieta:f|孙女:个|pf
grandson|grandson|nieto:m|孙子:个|pm
family|family|familia:f|一家人,家人:个|p
king|king|rey:m|国王:位|pm
queen|queen|reina:f|王后,女王:位|pf
prince|prince|príncipe:m|王子:位|pm
princess|princess|princesa:f|公主:位|pf
knight|knight|caballero:m|骑士:位|pm
wizard|wizard|mago:m|巫师,魔法师:位|p
witch|witch|bruja:f|女巫:个|pf
fairy|fairy|hada:f|仙女:个|pf
giant|giant|gigante:m|巨人:个|p
pirate|pirate|pirata:m|海盗:个|p
sailor|sailor|marinero:m|水手:个|p
captain|captain|capitán:m|船长:位|p
fisherman|fisherman|pescador:m|渔夫,渔民:个|pm
farmer|farmer|granjero:m|农夫,农民:个|p
baker|baker|panadero:m|面包师:个|p
chef|chef|chef:m|厨师,大厨:位|p
cook|cook|cocinero:m|厨子:个|p
doctor|doctor|médico:m|医生:位|p
teacher|teacher|maestra:f|老师:位|p
student|student|estudiante:m|学生:个|p
detective|detective|detective:m|侦探:个|p
musician|musician|músico:m|音乐家:位|p
painter|painter|pintor:m|画家:位|p
artist|artist|artista:m|艺术家:位|p
scientist|scientist|científica:f|科学家:位|p
inventor|inventor|inventor:m|发明家:位|p
explorer|explorer|explorador:m|探险家:位|p
astronaut|astronaut|astronauta:m|宇航员:位|p
pilot|pilot|piloto:m|飞行员:位|p
clockmaker|clockmaker|relojero:m|钟表匠:位|p
keeper|keeper|guardián:m|看守人:个|p
lighthouse_keeper|lighthouse keeper|farero:m|灯塔看守人:个|p
dancer|dancer|bailarina:f|舞者:个|p
singer|singer|cantante:m|歌手:个|p
soldier|soldier|soldado:m|士兵:个|p
thief|thief|ladrón:m|小偷:个|p
hunter|hunter|cazador:m|猎人:个|p
shepherd|shepherd|pastor:m|牧羊人:个|p
gardener|gardener|jardinero:m|园丁:个|p
stranger|stranger|desconocido:m|陌生人:个|p
hero|hero|héroe:m|英雄:位|p
robot|robot|robot:m|机器人:个|c
ghost|ghost|fantasma:m|幽灵,鬼:个|c
monster|monster|monstruo:m|怪兽,怪物:只|c
alien|alien|extraterrestre:m|外星人:个|c
dragon|dragon|dragón:m|龙:条|a
unicorn|unicorn|unicornio:m|独角兽:只|a
mermaid|mermaid|sirena:f|美人鱼:条|cf
snowman|snowman|muñeco de nieve:m|雪人:个|c
scarecrow|scarecrow|espantapájaros:m|稻草人:个|c
doll|doll|muñeca:f|娃娃:个|c
toy|toy|juguete:m|玩具:个|t
cat|cat|gato:m|猫,猫咪:只|a
kitten|kitten|gatito:m|小猫:只|a
dog|dog|perro:m|狗:只|a
puppy|puppy|cachorro:m|小狗:只|a
fox|fox|zorro:m|狐狸:只|a
wolf|wolf|lobo:m|狼:只|a
bear|bear|oso:m|熊:只|a
panda|panda|panda:m|熊猫:只|a
rabbit|rabbit|conejo:m|兔子,小兔子:只|a
hare|hare|liebre:f|野兔:只|a
turtle|turtle|tortuga:f|乌龟,海龟:只|a
mouse|mouse|ratón:m|老鼠,小老鼠:只|a
elephant|elephant|elefante:m|大象:头|a
lion|lion|león:m|狮子:头|a
tiger|tiger|tigre:m|老虎:只|a
monkey|monkey|mono:m|猴子:只|a
horse|horse|caballo:m|马:匹|a
cow|cow|vaca:f|奶牛,牛:头|a
pig|pig|cerdo:m|猪:头|a
sheep|sheep|oveja:f|羊,绵羊:只|a
goat|goat|cabra:f|山羊:只|a
chicken|chicken|gallina:f|鸡,母鸡:只|a
duck|duck|pato:m|鸭子:只|a
bird|bird|pájaro:m|鸟,小鸟:只|a
owl|owl|búho:m|猫头鹰:只|a
eagle|eagle|águila:f|鹰,老鹰:只|a
parrot|parrot|loro:m|鹦鹉:只|a
penguin|penguin|pingüino:m|企鹅:只|a
whale|whale|ballena:f|鲸鱼,鲸:条|a
dolphin|dolphin|delfín:m|海豚:条|a
shark|shark|tiburón:m|鲨鱼:条|a
fish|fish|pez:m|鱼,小鱼:条|a
octopus|octopus|pulpo:m|章鱼:只|a
crab|crab|cangrejo:m|螃蟹:只|a
frog|frog|rana:f|青蛙:只|a
snail|snail|caracol:m|蜗牛:只|a
snake|snake|serpiente:f|蛇:条|a
bee|bee|abeja:f|蜜蜂:只|a
butterfly|butterfly|mariposa:f|蝴蝶:只|a
ant|ant|hormiga:f|蚂蚁:只|a
spider|spider|araña:f|蜘蛛:只|a
squirrel|squirrel|ardilla:f|松鼠:只|a
deer|deer|ciervo:m|鹿:只|a
giraffe|giraffe|jirafa:f|长颈鹿:只|a
camel|camel|camello:m|骆驼:头|a
dinosaur|dinosaur|dinosaurio:m|恐龙:只|a
sloth|sloth|perezoso:m|树懒:只|a
hedgehog|hedgehog|erizo:m|刺猬:只|a
ship|ship|navío:m|大船,船:艘|t
boat|boat|barco:m|小船:条|t
raft|raft|balsa:f|木筏:只|t
rocket|rocket|cohete:m|火箭:枚|t
spaceship|spaceship|nave:f|飞船:艘|t
balloon|balloon|globo:m|气球:个|t
kite|kite|cometa:f|风筝:只|t
bicycle|bicycle|bicicleta:f|自行车:辆|t
car|car|coche:m|汽车,小汽车:辆|t
bus|bus|autobús:m|公共汽车,公交车,巴士:辆|t
train|train|tren:m|火车:列|t
plane|plane|avión:m|飞机:架|t
skateboard|skateboard|monopatín:m|滑板:块|t
clock|clock|reloj:m|钟,时钟:座|t
watch|watch|reloj de pulsera:m|手表:块|t
key|key|llave:f|钥匙:把|t
map|map|mapa:m|地图:张|t
book|book|libro:m|书:本|t
letter|letter|carta:f|信:封|t
box|box|caja:f|盒子,箱子:个|t
treasure|treasure|tesoro:m|宝藏:份|t
wand|wand|varita:f|魔杖:根|t
hat|hat|sombrero:m|帽子:顶|t
umbrella|umbrella|paraguas:m|雨伞,伞:把|t
lantern|lantern|farol:m|灯笼:盏|t
lamp|lamp|lámpara:f|灯:盏|t
brush|brush|pincel:m|画笔:支|t
canvas|canvas|lienzo:m|画布:张|t
easel|easel|caballete:m|画架:个|t
paint|paint|pintura:f|颜料:盒|tu
picture|picture|cuadro:m|画,图画:幅|t
violin|violin|violín:m|小提琴:把|t
piano|piano|piano:m|钢琴:架|t
drum|drum|tambor:m|鼓:面|t
song|song|canción:f|歌:首|t
oven|oven|horno:m|烤箱,烤炉:台|t
bread|bread|pan:m|面包:个|tu
cake|cake|pastel:m|蛋糕:块|t
cheese|cheese|queso:m|奶酪:块|tu
honey|honey|miel:f|蜂蜜,蜜:罐|tu
pan|pan|sartén:f|平底锅,锅:口|t
food|food|comida:f|食物,饭菜:份|tu
soup|soup|sopa:f|汤:碗|tu
apple|apple|manzana:f|苹果:个|t
flower|flower|flor:f|花,小花:朵|t
seed|seed|semilla:f|种子:颗|t
tree|tree|árbol:m|树:棵|t
bamboo|bamboo|bambú:m|竹子:根|tu
leaf|leaf|hoja:f|树叶,叶子:片|t
rainbow|rainbow|arcoíris:m|彩虹:道|t
cardboard|cardboard|cartón:m|纸板,硬纸板:块|tu
hammer|hammer|martillo:m|锤子:把|t
nail|nail|clavo:m|钉子:颗|t
rope|rope|cuerda:f|绳子:根|t
wood|wood|madera:f|木头,木板:块|tu
shell|shell|concha:f|贝壳:个|t
feather|feather|pluma:f|羽毛:根|t
egg|egg|huevo:m|蛋:个|t
ball|ball|pelota:f|球:个|t
party|birthday party|fiesta:f|生日派对,派对,聚会:场|t
gift|gift|regalo:m|礼物:份|t
star|star|estrella:f|星星:颗|t
sun|sun|sol:m|太阳:个|t
telescope|telescope|telescopio:m|望远镜:架|t
swimming_pool|swimming pool|piscina:f|游泳池:个|l
treehouse|treehouse|casa del árbol:f|树屋:座|l
house|house|casa:f|房子,家:座|l
kitchen|kitchen|cocina:f|厨房:间|l
garden|garden|jardín:m|花园:座|l
roof|roof|tejado:m|屋顶:个|l
lighthouse|lighthouse|faro:m|灯塔:座|l
castle|castle|castillo:m|城堡:座|l
village|village|pueblo:m|村庄,村子:个|l
town|town|ciudad:f|小镇:个|l
city|city|ciudad:f|城市:座|l
paris|Paris|París:m|巴黎:个|l
forest|forest|bosque:m|森林,树林:片|l
bamboo_forest|bamboo forest|bambú:m|竹林:片|l
woods|woods|bosque:m|树林:片|l
mountain|mountain|montaña:f|山:座|l
hill|hill|colina:f|小山,山坡:座|l
river|river|río:m|河,小河:条|l
lake|lake|lago:m|湖:个|l
sea|sea|mar:m|大海,海上,海:片|l
ocean|ocean|océano:m|海洋:片|l
beach|beach|playa:f|海滩:片|l
island|island|isla:f|小岛,岛:座|l
desert|desert|desierto:m|沙漠:片|l
moon|moon|luna:f|月球,月亮:个|l
space|space|espacio:m|太空:片|l
sky|sky|cielo:m|天空:片|l
school|school|escuela:f|学校:所|l
street|street|calle:f|街道,街:条|l
park|park|parque:m|公园:座|l
farm|farm|granja:f|农场:个|l
bakery|bakery|panadería:f|面包店:家|l
library|library|biblioteca:f|图书馆:座|l
cave|cave|cueva:f|山洞:个|l
bridge|bridge|puente:m|桥:座|l
field|field|campo:m|田野:片|l
top|top|cima:f|顶上,山顶:个|l
storm|storm|tormenta:f|暴风雨,风暴:场|w
rain|rain|lluvia:f|雨,大雨:场|w
snow|snow|nieve:f|雪,大雪:场|w
wind|wind|viento:m|大风,风:阵|w
flood|flood|inundación:f|洪水:场|w
fire|fire|incendio:m|大火,火:场|w
volcano|volcano|volcán:m|火山:座|w
earthquake|earthquake|terremoto:m|地震:场|w
night|night|noche:f|夜晚,晚上:个|x
race|race|carrera:f|比赛,赛跑:场|x
mystery|mystery|misterio:m|谜,谜题:个|x
history|history|historia:f|历史:段|x
empire|empire|imperio:m|帝国:个|l
sense|sense|sentido:m|感觉:种|x
taste|taste|gusto:m|味觉:种|x
magic|magic|magia:f|魔法:种|x
life|life|vida:f|生命:个|x
"""
# fmt: on

# the setting each place concept paints (English, for the image prompts)
PLACE_VISUALS: dict[str, str] = {
    "paris": "in Paris, the Eiffel Tower above the rooftops",
    "moon": "among grey craters on the moon, the Earth glowing in the black sky",
    "space": "in outer space among glowing planets",
    "treehouse": "by a treehouse high in a big oak tree at the edge of the woods",
    "kitchen": "in a busy kitchen with copper pans",
    "sea": "on the open sea, waves to the horizon",
    "ocean": "on the wide ocean, waves to the horizon",
    "lighthouse": "on a rocky coast below a tall lighthouse",
    "forest": "in a deep green forest",
    "woods": "in a deep green forest",
    "bamboo_forest": "in a green bamboo forest with tall bamboo stalks",
    "city": "in a busy city street with tall buildings",
    "town": "in a small fishing town by the harbour",
    "village": "in a small village of cottages",
    "desert": "in a wide golden desert of sand dunes",
    "hill": "on a green hill under a wide sky",
    "garden": "in a rooftop garden full of pots",
    "roof": "on a flat roof above the city",
    "castle": "beside a stone castle on a hill",
    "mountain": "in snowy mountains",
    "river": "beside a winding river",
    "farm": "on a small farm with a red barn and fields",
    "house": "in a cosy house",
    "school": "in a school yard",
    "island": "on a small island",
    "beach": "on a sandy beach",
    "swimming_pool": "at a sunny swimming pool in a park",
    "sky": "high in a bright sky above the clouds",
    "park": "in a green park",
}
# the things a kind of character or an event brings into the pictures (concept keys)
TOOLS: dict[str, tuple[str, ...]] = {
    "paint": ("brush", "easel", "canvas"),
    "draw": ("brush", "canvas"),
    "chef": ("pan", "food"),
    "cook": ("pan", "food"),
    "bake": ("oven", "bread"),
    "baker": ("oven", "bread"),
    "skateboard": ("skateboard",),
    "swim": ("swimming_pool",),
    "fly": ("sky",),
    "clockmaker": ("clock",),
    "repair": ("hammer",),
    "build": ("hammer", "wood"),
    "plant": ("seed", "flower"),
    "sail": ("raft",),
    "wizard": ("wand",),
    "fisherman": ("boat",),
    "bee": ("flower", "honey"),
    "detective": ("map",),
}
# where a character lives when the idea names no place (concept keys)
HOMES: dict[str, str] = {
    "chef": "kitchen", "baker": "kitchen", "cook": "kitchen", "lighthouse_keeper": "lighthouse",
    "fisherman": "sea", "pirate": "sea", "whale": "sea", "astronaut": "space", "farmer": "farm",
    "scarecrow": "farm", "knight": "castle", "panda": "bamboo_forest", "fox": "forest",
    "penguin": "sea", "snowman": "garden", "bee": "garden", "dragon": "forest",
}  # fmt: skip


@dataclass(frozen=True)
class Concept:
    key: str
    en: str
    es: str
    es_gender: str  # "m" or "f"
    zh: tuple[str, ...]  # the first is the one written
    measure: str  # 只, 个, 条 ...
    tags: str

    @property
    def animate(self) -> bool:
        return any(t in self.tags for t in "pac")

    @property
    def place(self) -> bool:
        return "l" in self.tags

    @property
    def drawn(self) -> bool:
        """An abstract noun (taste, history) is in the story but not in a picture."""
        return "x" not in self.tags

    @property
    def mass(self) -> bool:
        """Uncountable: "bread", not "a bread"."""
        return "u" in self.tags

    @property
    def weather(self) -> bool:
        return "w" in self.tags


@cache
def concepts() -> dict[str, Concept]:
    table: dict[str, Concept] = {}
    for line in _TABLE.strip().splitlines():
        key, en, es, zh, tags = (part.strip() for part in line.split("|"))
        es_word, _, gender = es.partition(":")
        zh_words, _, measure = zh.partition(":")
        table[key] = Concept(key, en, es_word, gender, tuple(zh_words.split(",")), measure, tags)
    return table


@cache
def by_english() -> dict[str, Concept]:
    """English noun (singular, lower case) -> concept; multi-word nouns included."""
    out: dict[str, Concept] = {}
    for c in concepts().values():
        out.setdefault(c.en.lower(), c)
    out["party"] = concepts()["party"]
    out["granddaughter"] = concepts()["granddaughter"]
    return out


@cache
def by_spanish() -> dict[str, Concept]:
    out: dict[str, Concept] = {}
    for c in concepts().values():
        out.setdefault(c.es.lower(), c)
    return out


@cache
def by_chinese() -> dict[str, Concept]:
    out: dict[str, Concept] = {}
    for c in concepts().values():
        for word in c.zh:
            out.setdefault(word, c)
    return out


def concept(key: str) -> Concept:
    return concepts()[key]
