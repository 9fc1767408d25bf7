from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from agent_turns import turn
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_moma.agents.base import CANNOT, CERTAIN, POSSIBLE
from edge_moma.targets._agent_db import database_path
from edge_moma.targets.agents import reminders
from edge_moma.targets.agents.reminders import RemindersAgent, claim


@pytest.fixture
def agent(tmp_path: Path) -> RemindersAgent:
    return RemindersAgent(data_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "intent", "list_name", "item"),
    [
        ("remind me to put gas in my car", "reminder_update", "reminders", "put gas in my car"),
        ("set a reminder to buy bread", "reminder_update", "reminders", "buy bread"),
        ("i want to be reminded to pay the electric bill", "reminder_update", "reminders",
         "pay the electric bill"),
        ("please put babysitting on my to do list", "todo_list_update", "todo", "babysitting"),
        ("add mopping to the to do list", "todo_list_update", "todo", "mopping"),
        ("put the dishes on my list of things to do", "todo_list_update", "todo", "dishes"),
        ("tack on a gallon of milk to the grocery list", "shopping_list_update", "shopping",
         "gallon of milk"),
        ("throw eggs on my shopping list, please", "shopping_list_update", "shopping", "eggs"),
        # courtesy at the end is no part of the item; a word of thanks to say is
        ("um remind me to call mom thanks", "reminder_update", "reminders", "call mom"),
        ("remind me to say thanks", "reminder_update", "reminders", "say thanks"),
        ("remind me to send a thank you", "reminder_update", "reminders", "send a thank you"),
        ("add milk to my shopping list for me, thank you!", "shopping_list_update", "shopping",
         "milk"),
        # "for" and a time before what to do: the time follows the item
        ("set a reminder for 3 pm to pick up the kids", "reminder_update", "reminders",
         "pick up the kids at 3 pm"),
        ("set a reminder for tomorrow morning to call the bank", "reminder_update", "reminders",
         "call the bank tomorrow morning"),
        ("set a reminder for the dentist to call me back", "reminder_update", "reminders",
         "dentist to call me back"),
        # remembering, asked of the assistant
        ("make sure i remember to pay rent on friday", "reminder_update", "reminders",
         "pay rent on friday"),
        ("help me remember to water the plants", "reminder_update", "reminders",
         "water the plants"),
    ],
)  # fmt: skip
def test_adds_items(agent: RemindersAgent, text: str, intent: str, list_name: str, item: str):
    reply = agent.handle(turn(text, intent))
    assert reply.data["action"] == "add" and reply.data["list"] == list_name
    assert [i["text"] for i in agent.store.items(list_name)] == [item]


def test_list_check_remove_clear(agent: RemindersAgent) -> None:
    for item in ("laundry", "grocery shopping", "mow the lawn"):
        agent.handle(turn(f"add {item} to my to do list", "todo_list_update"))
    listed = agent.handle(turn("what's on my todo list", "todo_list"))
    assert listed.reply == "Your to-do list: 1. laundry; 2. grocery shopping; 3. mow the lawn."
    plan = agent.handle(turn("what is my plan for the day", "todo_list"))
    assert plan.reply == listed.reply
    assert [i["text"] for i in listed.data["items"]] == [
        "laundry",
        "grocery shopping",
        "mow the lawn",
    ]
    yes = agent.handle(turn("is laundry on my todo list", "todo_list"))
    no = agent.handle(turn("did i put skiing on my todo list", "todo_list"))
    assert (yes.data["found"], no.data["found"]) == (True, False)
    gone = agent.handle(turn("cross grocery shopping off the todo list", "todo_list_update"))
    assert gone.reply == 'Removed "grocery shopping" from your to-do list.'
    by_number = agent.handle(turn("remove 2 from my to do list", "todo_list_update"))
    assert by_number.data["text"] == "mow the lawn"
    missing = agent.handle(turn("remove skiing from my to do list", "todo_list_update"))
    assert 'can\'t find "skiing"' in missing.reply and "1. laundry" in missing.reply
    cleared = agent.handle(turn("clear my todo list", "todo_list_update"))
    assert cleared.data["removed"] == 1 and agent.store.items("todo") == []
    assert agent.handle(turn("what's on my todo list", "todo_list")).reply == (
        "Your to-do list is empty."
    )
    agent.handle(turn("add laundry to my to do list", "todo_list_update"))
    deleted = agent.handle(turn("please delete my todo list", ""))  # a built-in list: emptied
    assert deleted.data["removed"] == 1 and agent.store.items("todo") == []


def test_asks_for_a_missing_item_then_takes_the_answer(agent: RemindersAgent) -> None:
    ask = agent.handle(turn("please set up a reminder for me", "reminder_update"))
    assert (ask.state, ask.reply) == ("need_input", "What should I remind you about?")
    done = agent.handle(turn("call the plumber", "", ask.slots))
    assert done.state == "done" and done.data["text"] == "call the plumber"


def test_follow_up_adds_to_the_last_list_and_skips_duplicates(agent: RemindersAgent) -> None:
    first = agent.handle(turn("add eggs to my shopping list", "shopping_list_update"))
    too = agent.handle(turn("add milk too", "", first.slots))
    assert too.data == {"list": "shopping", "action": "add", "id": 2, "text": "milk"}
    dup = agent.handle(turn("add milk too", "", first.slots))
    assert "already on your shopping list" in dup.reply


def test_items_survive_a_new_process(tmp_path: Path) -> None:
    RemindersAgent(data_dir=tmp_path).handle(
        turn("remind me to water the plants", "reminder_update")
    )
    code = (
        "import sys\n"
        "from edge_moma.targets.agents.reminders import RemindersAgent\n"
        "from edge_moma.agents.base import AgentTurn\n"
        "a = RemindersAgent(data_dir=sys.argv[1])\n"
        "print(a.handle(AgentTurn('s', ({'role': 'user', 'content': 'list my reminders'},),"
        " 'reminder')).reply)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Your reminders: 1. water the plants."
    assert database_path(tmp_path).is_file()


def test_named_lists_are_created_filled_read_and_emptied(agent: RemindersAgent) -> None:
    made = agent.handle(turn("make a list of films to watch", ""))
    assert (made.data["action"], made.data["list"], made.data["created"]) == (
        "create",
        "films to watch",
        True,
    )
    again = agent.handle(turn("new list: films to watch", ""))
    assert again.data["created"] is False and "already have" in again.reply
    agent.handle(turn("add the Godfather to my films to watch list", ""))
    agent.handle(turn("put Alien on the films to watch list", ""))
    assert agent.handle(turn("what's on my films to watch list", "")).reply == (
        "Your films to watch list: 1. Godfather; 2. Alien."
    )
    gone = agent.handle(turn("get rid of the second item on my films to watch list", ""))
    assert gone.data["text"] == "Alien"
    added_new = agent.handle(turn("put a tent on the camping gear list", ""))
    assert added_new.data["list"] == "camping gear"
    assert agent.store.lists() == ["camping gear", "films to watch"]


@pytest.mark.parametrize(
    ("text", "list_name", "item"),
    [
        ("remind me tonight to lock the back door", "reminders", "lock the back door tonight"),
        ("I have to call the plumber, remind me", "reminders", "call the plumber"),
        ("remind me that the car needs an oil change", "reminders", "car needs an oil change"),
        ("don't let me forget to pay the electric bill", "reminders", "pay the electric bill"),
        ("we need toilet paper, add it to the shopping list", "shopping", "toilet paper"),
        ("add dish soap to groceries", "shopping", "dish soap"),
        ("add laundry to my list of things to do", "todo", "laundry"),
        ("please include feeding the fish on my to do list", "todo", "feeding the fish"),
        # the list named first
        ("on my to do list, add dishes", "todo", "dishes"),
        ("for the shopping list, add ham as well", "shopping", "ham"),
        ("shopping list: add bananas", "shopping", "bananas"),
        ("add to my list of things to do: wash the dog", "todo", "wash the dog"),
        ("put on my shopping list i need carrots", "shopping", "carrots"),
        ("make sure bread gets added to my shopping list", "shopping", "bread"),
        ("will you make sure that mopping is on my to do list", "todo", "mopping"),
        ("i need oranges on my shopping list", "shopping", "oranges"),
        # typed as a note
        ("new to do: book dentist", "todo", "book dentist"),
        ("task: email Bob the slides", "todo", "email Bob the slides"),
    ],
)
def test_adds_spoken_phrasings(agent: RemindersAgent, text: str, list_name: str, item: str):
    reply = agent.handle(turn(text, ""))
    assert (reply.data["action"], reply.data["list"], reply.data["text"]) == (
        "add",
        list_name,
        item,
    )


def test_things_listed_in_one_add_are_entries_of_their_own(agent: RemindersAgent) -> None:
    """ "eggs, milk and bread" used to be one entry, which removing the bread took whole."""
    added = agent.handle(turn("add eggs, milk and bread to my shopping list", ""))
    assert added.reply == 'Added "eggs", "milk" and "bread" to your shopping list.'
    assert [i["text"] for i in added.data["items"]] == ["eggs", "milk", "bread"]
    again = agent.handle(turn("put milk, butter, and jam on the shopping list", ""))
    assert [i["text"] for i in again.data["items"]] == ["butter", "jam"]  # milk is there
    assert agent.handle(turn("scratch bread off the shopping list", "")).data["text"] == "bread"
    assert [i["text"] for i in agent.store.items("shopping")] == ["eggs", "milk", "butter", "jam"]
    # no comma: one thing; a to-do or a reminder is a sentence, which commas do not split
    agent.handle(turn("add mac and cheese to my shopping list", ""))
    agent.handle(turn("add call mom, then dad to my to do list", ""))
    assert "mac and cheese" in [i["text"] for i in agent.store.items("shopping")]
    assert [i["text"] for i in agent.store.items("todo")] == ["call mom, then dad"]


def test_two_changes_in_one_request(agent: RemindersAgent) -> None:
    agent.handle(turn("add cheese to my shopping list", ""))
    both = agent.handle(turn("remove cheese from my shopping list and add wine", ""))
    assert [s["action"] for s in both.data["steps"]] == ["remove", "add"]
    assert [i["text"] for i in agent.store.items("shopping")] == ["wine"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("remind me to call mom at 6", CERTAIN),
        ("make a list of films to watch", CERTAIN),
        ("new list for camping gear", CERTAIN),
        ("add milk to my shopping list", CERTAIN),
        ("what's on my packing list", CERTAIN),
        ("clear my shopping list", CERTAIN),
        ("add paper towels", POSSIBLE),  # no list named: the intent router decides
        ("remember to lock the doors", POSSIBLE),  # perhaps meant for a device
        ("make sure i remember to lock the doors", CERTAIN),  # the user's own memory
        ("tell the vacuum to clean the kitchen", CANNOT),
        ("add the hallway to the vacuum schedule", CANNOT),
        ("add Tom to my contacts", CANNOT),
        ("create a playlist called road trip", CANNOT),
        ("add this song to my favorites list", CANNOT),  # what a media app plays
        ("what do i have to do to get a refund", CANNOT),  # how to, not the to-do list
        ("add a stop at the gas station", CANNOT),  # a route's, no list named
        ("add a stop at the bank to my to do list", CERTAIN),
        ("what do i need to do for my visa", CANNOT),
        ("what do i have to do today", CERTAIN),
        ("remove this video from my watch list", CANNOT),
        ("add the current track to my list", CANNOT),
        ("add milk to my favorites list", CERTAIN),  # a list of the user's own
        ("add a song to my to do list", CERTAIN),
        ("give me a list of the tallest buildings", CANNOT),
        ("remind Sam about dinner by text", CANNOT),
        ("set a reminder on Dad's phone to take his pills", CANNOT),  # someone else's device
        ("add milk to the shopping list on her phone", CANNOT),
        ("put a reminder on the kids' tablet for bedtime", CANNOT),
        ("remind me on my phone to call mom at 5", CERTAIN),  # the user's own
        ("remind me to call mom's cell at 5", CERTAIN),
        ("remind me to send the file to John's laptop", CERTAIN),
        ("add the hallway to tomorrow's cleaning", CANNOT),  # somewhere that is not a list
        ("add this song to Jake's playlist", CANNOT),
        ("add milk to mom's shopping list", CERTAIN),  # someone's list named as a list
        ("add call the bank to today's tasks", POSSIBLE),
        ("if it isn't on my shopping list can you put it on there", POSSIBLE),
        ("show my tasks in Asana", CANNOT),  # another app's tasks
        ("what's on my Trello list", CANNOT),
        ("add a reminder to the calendar event", CANNOT),  # attached to something else
        ("add a reminder to the meeting invite", CANNOT),
        ("add a reminder to call mom", CERTAIN),
        ("what tasks does the vacuum have today", CANNOT),  # a device's own tasks
        ("what's on my list for the robot today", CANNOT),
        ("put a new filter for the vacuum on my shopping list", CERTAIN),
        ("remind me to empty the vacuum", CERTAIN),
        ("add a reminder to the shopping list to buy milk", CERTAIN),
        ("give me a packing list for the beach", CANNOT),  # a list written for the user
        ("ask Priya to add the tickets to the shared list", CANNOT),  # an errand for someone
        ("what's on my Netflix list", CANNOT),  # another app's list
        ("put this episode on my watch later list", CANNOT),
        ("how do I make a to do list app in Python", CANNOT),  # a how-to question
        ("remind me what the capital of Peru is", CANNOT),  # a fact, not a reminder
        ("can you remind me what i put on my shopping list", POSSIBLE),
        ("add an app idea to my list", CERTAIN),
        ("remind me why I came into this room", CANNOT),
        ("make a list of pros and cons of moving to Denver", CANNOT),  # a list about something
        ("my to do list app keeps crashing", CANNOT),
        ("list your features", CANNOT),
        ("on my shopping list, remove bread and add milk", POSSIBLE),  # two changes
        ("does my shopping list include corn", POSSIBLE),  # a check it does not read, no add
        ("i want everything on my shopping list", CANNOT),  # the whole list: an order to place
        ("what's list remove it", POSSIBLE),  # no list's name before the verb
        ("can you delete my todo list please", CERTAIN),  # a built-in list: emptied
        ("delete my camping list", POSSIBLE),  # a list by name is never deleted
        ("send my shopping list to Jo", CANNOT),  # sent somewhere: the agent cannot
        ("tell Ana I added the tickets to our list", CANNOT),  # an errand for someone
        ("let Tom know the list is on the fridge", CANNOT),
        ("add the new episode to my list on the podcast app", CANNOT),  # kept elsewhere
        ("what's on the guest list for the gala on the website", CANNOT),
        ("what's on the waiting list for the clinic", CANNOT),  # a public list
        ("make a list of things to see in Rome for me", CANNOT),  # a place's sights
        ("start a list of movies to see", CERTAIN),  # the user's own list
        ("any news about the shopping list app", CANNOT),  # news about a subject
        ("can you share my grocery list with my wife", CANNOT),
        ("remind me to send the list to Jo", CERTAIN),  # a reminder, not a list sent
        ("what's on the bestseller list this week", CANNOT),  # a ranking, not theirs
        ("what are the top 10 list of movies", CANNOT),
        ("what are the best apps for to do lists", CANNOT),  # apps for lists
        ("what should be on a to do list for a new puppy", CANNOT),  # advice on a list
        ("what should I add to my to do list", CERTAIN),  # their own list: reading it helps
        ("how do you say shopping list in French", CANNOT),  # a question about words
        ("which chores can you help with", CANNOT),  # a question about the assistant
        ("what is my plan for the day", CERTAIN),  # the to-do list answers it
        ("what do we have to do tomorrow", CERTAIN),
        ("add a border to this picture", CANNOT),  # somewhere that is not a list
        ("what do I need to take to apply for a visa", CANNOT),  # not a shopping errand
        ("what do I need to buy", CERTAIN),  # what to buy, and nothing more: the shopping list
        ("what do i need to buy at the store", CERTAIN),
        ("what do i need to buy for a camping trip", POSSIBLE),  # a question for advice
        # the list named first ("did i add to my reminder list that ...")
        ("did i add to my reminder list that i need to take the car in for an oil change", CERTAIN),
        # no longer needed: certain with the removal said
        ("i no longer need milk, so forget that", CERTAIN),
        ("we don't need eggs anymore", POSSIBLE),
        ("i don't need a reminder", CANNOT),  # nothing to add
        # the assistant's abilities, and a cancel with no dialog to cancel
        ("what tasks can you complete for me", CANNOT),
        ("what are my list of commands", CANNOT),
        ("forget it", CANNOT),
        ("forget about it", CANNOT),
        # a basket to fill or an order to place, not a list to write on
        ("add everything to my shopping cart", CANNOT),
        ("i need everything on my shopping list", CANNOT),
        ("buy all the things on the shopping list", CANNOT),
        ("add milk to my shopping cart", CERTAIN),
        ("write a poem about my to do list", CANNOT),  # writing about a subject
        ("what does my to-do list look like", CERTAIN),  # a question about one of the lists
        ("how many items are on my todo list", CERTAIN),
        ("order all of my shopping list", POSSIBLE),  # a purchase, not a read
        ("how much is my groceries and gas bill", POSSIBLE),
        ("what are the things that i wanted to keep in mind", CERTAIN),  # the reminders
        ("what things did i not want to forget", CERTAIN),
    ],
)
def test_claim(text: str, expected: float) -> None:
    assert claim(text) == expected


@pytest.mark.parametrize(
    ("text", "action", "item"),
    [
        ("add book flights to my to-do", "add", "book flights"),
        ("put water the lawn on my to do", "add", "water the lawn"),
        ("remove bake a cake from my todo", "remove", "bake a cake"),
        ("take return the rental off our to-do", "remove", "return the rental"),
        ("what's on my to-do", "list", ""),
        ("read me my to do", "list", ""),
    ],
)
def test_my_to_do_without_list_names_the_to_do_list(
    agent: RemindersAgent, text: str, action: str, item: str
) -> None:
    assert claim(text) == CERTAIN
    agent.handle(turn("add bake a cake to my to do list", ""))
    agent.handle(turn("add return the rental to my to do list", ""))
    reply = agent.handle(turn(text, ""))
    assert (reply.data["action"], reply.data["list"]) == (action, "todo"), reply.reply
    if item:
        assert reply.data["text"] == item


@pytest.mark.parametrize(
    "text",
    [
        "what do i have to get done today",
        "what do i have to finish today",
        "what do i need to get done this week",
        "what do we have to get done tomorrow",
        "what do i need to accomplish this weekend",
        "what must i get done",
    ],
)
def test_what_the_user_has_to_get_done_reads_the_to_do_list(
    agent: RemindersAgent, text: str
) -> None:
    assert claim(text) == CERTAIN
    reply = agent.handle(turn(text, ""))
    assert (reply.data["action"], reply.data["list"]) == ("list", "todo")


@pytest.mark.parametrize(
    "text",
    [
        "what do i have to get done before my car's inspection",
        "what do i have to get done to renew my passport",
        "what do i need to finish a marathon",
        "what's the to do in paris this weekend",  # "the to do": no list of the user's
        "what is there to do in austin",
        "add a to-do widget to my home screen",
    ],
)
def test_getting_things_done_elsewhere_is_not_the_to_do_list(text: str) -> None:
    assert claim(text) < CERTAIN


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("we need more soap", "soap"),
        ("we're out of soap", "soap"),
        ("we ran out of milk", "milk"),
        ("we're all out of eggs", "eggs"),
        ("i'm out of toothpaste", "toothpaste"),
        ("we're running low on bread", "bread"),
        ("we're almost out of olive oil", "olive oil"),
        ("we've run out of coffee", "coffee"),
        ("we need to get more rice", "rice"),
        ("we are low on laundry detergent", "laundry detergent"),
    ],
)
def test_what_the_household_is_out_of_goes_on_the_shopping_list(
    agent: RemindersAgent, text: str, item: str
) -> None:
    # possible only: "we're out of soap" may be an order to place, the router decides
    assert claim(text) == POSSIBLE
    reply = agent.handle(turn(text, "shopping_list_update"))
    assert reply.data["action"] == "add" and reply.data["list"] == "shopping"
    assert [i["text"] for i in agent.store.items("shopping")] == [item]


@pytest.mark.parametrize(
    ("text", "item", "expected"),
    [
        # the removal said is certain; "i already bought the bread" alone may be news
        ("i bought the milk, take it off", "milk", CERTAIN),
        ("i got the eggs, remove them", "eggs", CERTAIN),
        ("i already bought the bread", "bread", POSSIBLE),
        ("i picked up the detergent, cross it off", "detergent", CERTAIN),
        ("i bought the paper towels so take them off", "paper towels", CERTAIN),
        ("we already got the coffee, remove it", "coffee", CERTAIN),
        ("i got the shampoo already", "shampoo", POSSIBLE),
        ("i bought the eggs so remove them from the list", "eggs", CERTAIN),
        ("we got the coffee, take it off the shopping list", "coffee", CERTAIN),
        ("i no longer need milk, so forget that", "milk", CERTAIN),  # no longer needed
        ("we don't need the eggs anymore", "eggs", POSSIBLE),
    ],
)
def test_what_the_user_bought_comes_off_the_shopping_list(
    agent: RemindersAgent, text: str, item: str, expected: float
) -> None:
    agent.store.add("shopping", "bananas")
    agent.store.add("shopping", item)
    assert claim(text) == expected
    request = reminders.parse(text)
    assert request is not None and (request.list, request.item) == ("shopping", item)
    reply = agent.handle(turn(text, "shopping_list_update"))
    assert reply.data["action"] == "remove" and reply.data["text"] == item, reply.reply
    assert [i["text"] for i in agent.store.items("shopping")] == ["bananas"]


def test_what_was_bought_but_not_on_the_list_is_said_so(agent: RemindersAgent) -> None:
    agent.store.add("shopping", "bananas")
    reply = agent.handle(turn("i bought the milk, take it off", "shopping_list_update"))
    assert reply.data["error"] == "not found" and "milk" in reply.reply
    assert [i["text"] for i in agent.store.items("shopping")] == ["bananas"]


@pytest.mark.parametrize(
    "text",
    [
        "we're out of time",
        "i ran out of patience",
        "i need more sleep",
        "we need more time",
        "i'm out of ideas",
        "i'm running low on energy",
        "i ran out of data on my phone plan",
        "we're out of town this weekend",
        "i'm out of vacation days",
        "i got the job",
        "i got the flu",
        "i bought a new car last week",
        "i bought the wrong size, how do i return it",
        "i ran out of checks",
        "i picked up the kids",
        "i bought the stock at 50",
        "i got the flowers for mom",
        "we need more chairs for the party",
        "we're low on funds this month",
    ],
)
def test_being_out_of_things_that_are_not_bought_is_no_list_change(text: str) -> None:
    assert claim(text) == CANNOT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a reminder someone sends (an email, a letter) is no reminder of the user's
        ("i already bought the tickets, can you cancel the reminder email", CANNOT),
        ("unsubscribe me from the reminder emails", CANNOT),
        ("did the dentist send a reminder letter", CANNOT),
        # but a reminder or a list of the user's that mentions one is still theirs
        ("remind me to send the reminder email to the team", CERTAIN),
        ("add reminder emails to my to do list", CERTAIN),
    ],
)
def test_a_reminder_sent_by_someone_is_not_the_users(text: str, expected: float) -> None:
    assert claim(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "picked up the eggs, take them off the list",
        "i bought the eggs, remove them from my shopping list",
        "got eggs, cross them off my grocery list",
    ],
)
def test_it_or_them_removed_is_what_the_clause_before_names(
    agent: RemindersAgent, text: str
) -> None:
    agent.store.add("shopping", "milk")
    agent.store.add("shopping", "eggs")
    reply = agent.handle(turn(text, "shopping_list_update"))
    assert reply.data["action"] == "remove" and reply.data["text"] == "eggs", reply.reply
    assert [i["text"] for i in agent.store.items("shopping")] == ["milk"]


_CHANGE_WORDS = [
    "add", "put", "remove", "delete", "take", "off", "cross", "clear", "empty", "make",
    "blank", "get", "rid", "of", "don't", "need", "milk", "eggs", "to", "on", "from", "in",
    "my", "the", "our", "list", "shopping", "grocery", "groceries", "to-do", "todo", "do",
    "tasks", "chores", "reminders", "what's", "what", "is", "read", "show", "me", "all",
    "everything", "any", "are", "please", "jot", "down", "write", "cancel", "trash",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_CHANGE_WORDS), min_size=1, max_size=10),
    st.sampled_from([" ", "  ", ", "]),
)
def test_the_change_patterns_keys_only_skip_searches_that_cannot_match(
    words: list[str], separator: str
) -> None:
    """A pattern of ``_CHANGE_PATTERNS`` is skipped when none of its words is in the text:
    the request reads the same as when every pattern is searched."""
    text = separator.join(words)
    gated = reminders._parse(text)
    patterns = reminders._CHANGE_PATTERNS
    reminders._CHANGE_PATTERNS = tuple((a, p, ()) for a, p, _ in patterns)
    try:
        assert reminders._parse(text) == gated
    finally:
        reminders._CHANGE_PATTERNS = patterns
    for _, pattern, keys in patterns:
        if keys and not any(k in text for k in keys):
            assert pattern.search(text) is None, (pattern.pattern[:40], text)


_REMINDER_WORDS = [
    "remind", "reminder", "reminded", "me", "us", "to", "set", "a", "new", "be", "get",
    "don't", "let", "forget", "tell", "remember", "that", "what", "i", "wanted", "recall",
    "keep", "in", "mind", "list", "make", "create", "of", "add", "remove", "delete", "milk",
    "my", "the", "please", "thanks", "thank", "you", "now", "for", ",", "sam", "call", "mom",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_REMINDER_WORDS), min_size=1, max_size=10),
    st.sampled_from([" ", "  ", ", ", "\n"]),
    st.sampled_from(["", "\n", "?"]),
)
def test_the_parse_keys_only_skip_searches_that_cannot_match(
    words: list[str], separator: str, end: str
) -> None:
    """Each search ``_parse`` skips without its words could not have matched."""
    text = separator.join(words) + end
    gated = [
        *reminders._SELF_REMINDER,
        ("remind", reminders._REMIND_OTHER),
        ("reminder", reminders._REMOVE_REMINDER),
        ("remember", reminders._REMEMBER),
        ("list", reminders._CREATE),
        *((k, reminders._RECALL) for k in reminders._RECALL_KEYS),
        *((k, reminders._ADD_SOMEWHERE) for k in reminders._ADD_SOMEWHERE_KEYS),
    ]
    for pattern in {p for _, p in gated}:
        if not any(k in text for k, p in gated if p is pattern):
            assert pattern.search(text) is None, (pattern.pattern[:40], text)
    if not (text.endswith("now") or text[:-1].endswith("now")):  # "$" matches before "\n"
        assert reminders._NOW_END.search(text) is None, text


def test_a_check_with_the_list_named_first_finds_the_item_as_written(
    agent: RemindersAgent,
) -> None:
    agent.store.add("reminders", "take the car in for an oil change")
    text = "did i add to my reminder list that i need to take the car in for an oil change"
    reply = agent.handle(turn(text, "reminder"))
    assert reply.data["action"] == "check" and reply.data["found"], reply.reply
    assert reply.reply == 'Yes, "take the car in for an oil change" is on your reminders.'


def test_what_to_buy_at_the_store_reads_the_shopping_list(agent: RemindersAgent) -> None:
    agent.store.add("shopping", "milk")
    reply = agent.handle(turn("what do i need to buy at the store", "shopping_list"))
    assert reply.data["action"] == "list" and reply.data["list"] == "shopping"
    assert [i["text"] for i in reply.data["items"]] == ["milk"]
